"""What ties a pushed commit to the review it merged: the closed and merge events of GitHub and
GitLab, parsed from their payloads, and the search of the preview ledger by commit."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.merging import find_preview, named_review
from reconciler.webhooks import ReviewRequest, identify, parse_event
from state.previews import StoredPreview
from state.store import Store
from tests.reconciler import payloads

MERGE = "f" * 40
SQUASH = "9" * 40


def parsed(provider: str, event: str, body: dict[str, Any]) -> ReviewRequest:
    signed = (payloads.github if provider == "github" else payloads.gitlab)(event, body)
    repository = identify(provider, signed.body)  # type: ignore[arg-type]
    found = parse_event(provider, event, signed.body, repository)  # type: ignore[arg-type]
    assert isinstance(found, ReviewRequest)
    return found


@pytest.mark.parametrize(
    ("provider", "event", "body", "expected"),
    [
        ("github", "pull_request", payloads.github_pull_request_merged(MERGE),
         ("closed", 42, True, MERGE)),
        ("github", "pull_request", payloads.github_pull_request("closed"),
         ("closed", 42, False, "")),
        ("gitlab", "Merge Request Hook", payloads.gitlab_merge_request_merged(MERGE),
         ("merge", 5, True, MERGE)),
        ("gitlab", "Merge Request Hook", payloads.gitlab_merge_request_merged(None, SQUASH),
         ("merge", 5, True, SQUASH)),
        ("gitlab", "Merge Request Hook", payloads.gitlab_merge_request_merged(MERGE, SQUASH),
         ("merge", 5, True, MERGE)),
        ("gitlab", "Merge Request Hook", payloads.gitlab_merge_request(),
         ("open", 5, False, "")),
    ],
    ids=["github merged", "github closed unmerged", "gitlab merge commit", "gitlab squash only",
         "gitlab squash and merge commit", "gitlab opened"],
)  # fmt: skip
def test_a_merged_review_event_names_the_commit_it_landed_as(
    provider: str, event: str, body: dict[str, Any], expected: tuple[str, int, bool, str]
) -> None:
    review = parsed(provider, event, body)
    assert (review.action, review.number, review.merged, review.merge_commit) == expected


def test_an_open_pull_request_never_names_a_merge_commit() -> None:
    """GitHub fills merge_commit_sha with a test merge while the review is open."""
    body = payloads.github_pull_request("synchronize")
    body["pull_request"]["merge_commit_sha"] = MERGE
    review = parsed("github", "pull_request", body)
    assert (review.merged, review.merge_commit) == (False, "")


def record(store: Store, *, number: int, head: str, environment: str = "prod") -> None:
    store.previews.record(
        StoredPreview("acme", environment, "acme/envs", number, head, f"sha256:{number}",
                      "desired", "observed", "policy")
    )  # fmt: skip


def found(store: Store, commit: str, parents: list[str], environment: str = "prod") -> int | None:
    preview = find_preview(
        store.previews, tenant="acme", environment=environment, commit=commit, parents=parents
    )
    return None if preview is None else preview.number


def test_a_merge_commit_finds_the_review_of_its_merged_in_parent_not_of_its_first(
    store: Store,
) -> None:
    record(store, number=41, head="1" * 40)  # merged earlier by fast-forward: now main's tip
    record(store, number=42, head="2" * 40)
    assert found(store, MERGE, ["1" * 40, "2" * 40]) == 42
    assert found(store, "1" * 40, ["0" * 40]) == 41  # the fast-forward itself
    assert found(store, MERGE, ["1" * 40]) is None  # one parent: a commit on top of 41
    assert found(store, MERGE, ["1" * 40, "2" * 40], environment="staging") is None


def test_a_squash_merge_is_found_only_through_the_recorded_merge(store: Store) -> None:
    record(store, number=42, head="2" * 40)
    assert found(store, SQUASH, ["1" * 40]) is None
    store.previews.record_merge("acme", repository="acme/envs", number=42, merge_commit=SQUASH)
    assert found(store, SQUASH, ["1" * 40]) == 42
    assert found(store, SQUASH, ["1" * 40], environment="staging") is None


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("Scale the web app (#42)", 42),
        ("Scale the web app (#42)\n\n* first\n* second", 42),
        ("Merge pull request #42 from acme/scale-web\n\nScale the web app", 42),
        ("Scale the web app\n\nSee merge request acme/envs!42", 42),
        ("Scale the web app\n\nSee merge request globex/envs!42", None),  # another project
        ("Scale the web app, see #42 for why", None),
        ("Fix (#42) in the middle of a title", None),
        ("", None),
    ],
)
def test_the_review_a_forge_names_in_its_commit_message_is_read(
    message: str, number: int | None
) -> None:
    assert named_review(message, repository="acme/envs") == number


def test_a_squash_merge_is_found_through_its_message_when_no_event_was_recorded(
    store: Store,
) -> None:
    record(store, number=42, head="2" * 40)
    preview = find_preview(
        store.previews, tenant="acme", environment="prod", commit=SQUASH, parents=["1" * 40],
        repository="acme/envs", message="Scale the web app (#42)",
    )  # fmt: skip
    assert preview is not None
    assert preview.number == 42
