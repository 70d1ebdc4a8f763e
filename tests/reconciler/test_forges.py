"""The GitHub and GitLab clients against the fake forge: sticky comments, statuses, retries and
how refusals are classified."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.errors import (
    ConfigError,
    FatalError,
    InvalidRequest,
    NotFound,
    PlatformError,
    TransientError,
)
from reconciler.forges import GitHubReview, GitLabReview, Retry, open_review
from simulators.github import GITHUB_BODY_LIMIT, ForgeSimulator
from tests.conftest import free_port
from tests.simulators.github.conftest import PROJECT_ID, READ_ONLY, REPO, TOKEN, forge

__all__ = ["forge"]
MARKER = "<!-- rxt:plan acme/staging -->"
SHA = "c" * 40


class Reviews:
    """Clients of the fake forge, closed when the test ends."""

    def __init__(self, sim: ForgeSimulator) -> None:
        self.sim = sim
        self.opened: list[GitHubReview | GitLabReview] = []

    def github(
        self, *, number: int = 7, token: str = TOKEN, waits: list[float] | None = None
    ) -> GitHubReview:
        sleep: Callable[[float], None] = (waits if waits is not None else []).append
        made = GitHubReview(
            REPO, number, token=token, base_url=self.sim.url, sleep=sleep, rng=lambda: 0.5
        )
        self.opened.append(made)
        return made

    def gitlab(self, project: str | int, *, token: str = TOKEN) -> GitLabReview:
        made = GitLabReview(project, 3, token=token, base_url=self.sim.gitlab_url)
        self.opened.append(made)
        return made


@pytest.fixture
def reviews(forge: ForgeSimulator) -> Iterator[Reviews]:
    made = Reviews(forge)
    yield made
    for review in made.opened:
        review.close()


def test_a_sticky_comment_is_created_once_then_edited_in_place(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    review = reviews.github()
    first = review.upsert_sticky_comment(MARKER, f"{MARKER}\nplan one")
    second = review.upsert_sticky_comment(MARKER, f"{MARKER}\nplan two")
    comments = forge.comments(REPO, 7)
    writes = [c.method for c in forge.calls() if c.method != "GET"]
    assert (first.created, second.created, second.id) == (True, False, first.id)
    assert [c.body for c in comments] == [f"{MARKER}\nplan two"]
    assert writes == ["POST", "PATCH"]


def test_an_unchanged_comment_is_not_written_again(forge: ForgeSimulator, reviews: Reviews) -> None:
    review = reviews.github()
    review.upsert_sticky_comment(MARKER, "same")
    review.upsert_sticky_comment(MARKER, "same")
    assert [c.method for c in forge.calls() if c.method != "GET"] == ["POST"]
    assert forge.comments(REPO, 7)[0].body == f"{MARKER}\nsame"


def test_a_quote_of_the_marker_or_another_environment_s_comment_is_left_alone(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    review = reviews.github()
    review.create_comment(f"> {MARKER}\n> quoted by a person")
    review.upsert_sticky_comment("<!-- rxt:plan acme/prod -->", "prod plan")
    review.upsert_sticky_comment(MARKER, "staging plan")
    bodies = [c.body.split("\n")[-1] for c in forge.comments(REPO, 7)]
    assert bodies == ["> quoted by a person", "prod plan", "staging plan"]


def test_the_marker_is_found_past_the_first_page_of_comments(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    review = reviews.github()
    review.upsert_sticky_comment(MARKER, "old")
    for index in range(120):
        review.create_comment(f"chatter {index}")
    review.upsert_sticky_comment(MARKER, "new")
    assert len(forge.comments(REPO, 7)) == 121
    assert forge.comments(REPO, 7)[0].body == f"{MARKER}\nnew"


def test_statuses_are_posted_under_the_rxt_plan_context(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    review = reviews.github()
    review.set_status(SHA, state="pending", description="planning", context="rxt/plan")
    review.set_status(SHA, state="failure", description="d" * 300, context="rxt/plan")
    posted = forge.statuses(SHA)
    assert [(s.state, s.context) for s in posted] == [
        ("pending", "rxt/plan"),
        ("failure", "rxt/plan"),
    ]
    assert len(posted[1].description) == 140


def refuse_token(sim: Reviews) -> None:
    sim.github(token="wrong").upsert_sticky_comment(MARKER, "x")


def refuse_write(sim: Reviews) -> None:
    sim.github(token=READ_ONLY).upsert_sticky_comment(MARKER, "x")


def refuse_number(sim: Reviews) -> None:
    sim.github(number=99).upsert_sticky_comment(MARKER, "x")


def refuse_size(sim: Reviews) -> None:
    sim.github().upsert_sticky_comment(MARKER, "x" * GITHUB_BODY_LIMIT)


def refuse_state(sim: Reviews) -> None:
    sim.github().set_status("main", state="success", description="", context="rxt/plan")


def refuse_gitlab_token(sim: Reviews) -> None:
    sim.gitlab(PROJECT_ID, token="wrong").set_status(
        SHA, state="success", description="", context="rxt/plan"
    )


def refuse_gitlab_project(sim: Reviews) -> None:
    sim.gitlab(999).upsert_sticky_comment(MARKER, "x")


REFUSALS: list[tuple[Callable[[Reviews], None], type[PlatformError], str]] = [
    (refuse_token, FatalError, "401 Bad credentials"),
    (refuse_write, FatalError, "403 Resource not accessible"),
    (refuse_number, NotFound, "404 Not Found"),
    (refuse_size, InvalidRequest, "422 Validation Failed; body is too long"),
    (refuse_state, InvalidRequest, "422 No commit found for SHA: main"),
    (refuse_gitlab_token, FatalError, "401 401 Unauthorized"),
    (refuse_gitlab_project, NotFound, "404 404 Project Not Found"),
]


@pytest.mark.parametrize(
    ("act", "kind", "words"), REFUSALS, ids=[row[0].__name__ for row in REFUSALS]
)
def test_refusals_are_classified_into_the_error_tree(
    forge: ForgeSimulator,
    reviews: Reviews,
    act: Callable[[Reviews], None],
    kind: type[Any],
    words: str,
) -> None:
    with pytest.raises(PlatformError) as raised:
        act(reviews)
    assert type(raised.value) is kind
    assert words in raised.value.message
    assert raised.value.hint
    assert sum(c.status >= 400 for c in forge.calls()) == 1  # refusals are not retried


def test_server_errors_are_retried_with_jittered_backoff(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    waits: list[float] = []
    forge.inject(502, times=2, path=f"/repos/{REPO}/issues")
    reviews.github(waits=waits).upsert_sticky_comment(MARKER, "x")
    assert waits == [0.125, 0.25]  # base 0.25 * 2**attempt, times the jitter 0.5
    assert len(forge.comments(REPO, 7)) == 1


def test_retries_are_bounded_and_then_transient(forge: ForgeSimulator, reviews: Reviews) -> None:
    waits: list[float] = []
    forge.inject(503, times=10)
    with pytest.raises(TransientError, match="503"):
        reviews.github(waits=waits).upsert_sticky_comment(MARKER, "x")
    assert len(waits) == Retry().attempts - 1
    assert len(forge.calls()) == Retry().attempts


def test_a_retry_after_header_sets_the_wait(forge: ForgeSimulator, reviews: Reviews) -> None:
    waits: list[float] = []
    forge.inject(429, times=1, retry_after=3)
    reviews.github(waits=waits).set_status(SHA, state="success", description="", context="rxt/plan")
    assert waits == [3.0]


def test_an_unreachable_forge_is_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        GitHubReview(REPO, 7, token=TOKEN, base_url=url, sleep=lambda _: None) as review,
        pytest.raises(TransientError, match="failed"),
    ):
        review.upsert_sticky_comment(MARKER, "x")


@pytest.mark.parametrize("make", [GitHubReview, GitLabReview])
def test_a_missing_token_is_a_configuration_error(make: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError, match=r"no Git(Hub|Lab) token"):
        make("acme/envs", 1, token="")


def test_the_gitlab_client_keeps_one_note_and_maps_failure_to_failed(
    forge: ForgeSimulator, reviews: Reviews
) -> None:
    review = reviews.gitlab("acme/gl-envs")
    review.upsert_sticky_comment(MARKER, "one")
    review.upsert_sticky_comment(MARKER, "two")
    review.set_status(SHA, state="pending", description="planning", context="rxt/plan")
    review.set_status(SHA, state="failure", description="denied", context="rxt/plan")
    writes = [c.method for c in forge.calls(provider="gitlab") if c.method != "GET"]
    assert [c.body for c in forge.comments("acme/gl-envs", 3)] == [f"{MARKER}\ntwo"]
    assert writes == ["POST", "PUT", "POST", "POST"]
    assert [s.state for s in forge.statuses(SHA)] == ["pending", "failed"]


@pytest.mark.parametrize(
    ("provider", "made"), [("github", GitHubReview), ("gitlab", GitLabReview), ("bitbucket", None)]
)
def test_a_review_client_is_opened_for_the_webhook_s_provider(
    provider: str, made: type[Any] | None
) -> None:
    if made is None:
        with pytest.raises(ConfigError, match="do not support 'bitbucket'"):
            open_review(provider, "acme/envs", 1, token=TOKEN)
        return
    with open_review(provider, "acme/envs", 1, token=TOKEN) as review:
        assert type(review) is made
        assert review.base_url.startswith("https://")
