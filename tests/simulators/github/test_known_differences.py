"""Every known way the fake forge differs from GitHub and GitLab, one check each.

If a change to the fake makes one of these fail, the difference moved: update the table here and
in docs/previews.md together.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from simulators.github import ForgeSimulator
from tests.simulators.github.conftest import PROJECT_ID, REPO

COMMENTS = f"/repos/{REPO}/issues/7/comments"


def plain_http_and_both_forges_on_one_port(forge: ForgeSimulator, github: httpx.Client) -> None:
    assert forge.url.startswith("http://127.0.0.1:")
    assert forge.gitlab_url == forge.url + "/api/v4"


def any_hex_string_is_a_commit(forge: ForgeSimulator, github: httpx.Client) -> None:
    # GitHub answers 422 "No commit found" for a SHA that is not in the repository.
    answer = github.post(f"/repos/{REPO}/statuses/{'0' * 40}", json={"state": "success"})
    assert answer.status_code == 201


def no_rate_limit_headers(forge: ForgeSimulator, github: httpx.Client) -> None:
    assert "X-RateLimit-Remaining" not in github.get(COMMENTS).headers


def every_token_sees_every_repository(forge: ForgeSimulator, github: httpx.Client) -> None:
    forge.add_repository("someone-else/private", reviews=(1,))
    assert github.get("/repos/someone-else/private/issues/1/comments").status_code == 200


def pull_requests_exist_only_when_registered(forge: ForgeSimulator, github: httpx.Client) -> None:
    # On GitHub every issue number of the repository has a comment thread.
    assert github.get(f"/repos/{REPO}/issues/1/comments").status_code == 404


def no_conditional_requests(forge: ForgeSimulator, github: httpx.Client) -> None:
    assert "ETag" not in github.get(COMMENTS).headers


def only_the_endpoints_previews_use(forge: ForgeSimulator, github: httpx.Client) -> None:
    assert github.get(f"/repos/{REPO}/pulls/7").status_code == 404
    assert github.post(f"/repos/{REPO}/check-runs", json={}).status_code == 404


def gitlab_statuses_need_no_pipeline(forge: ForgeSimulator, github: httpx.Client) -> None:
    headers = {"PRIVATE-TOKEN": github.headers["Authorization"].split()[1]}
    where = f"{forge.gitlab_url}/projects/{PROJECT_ID}/statuses/{'b' * 40}"
    answer = httpx.post(where, json={"state": "success", "ref": "main"}, headers=headers)
    assert (answer.status_code, answer.json()["ref"]) == (201, None)


DIFFERENCES: list[Callable[[ForgeSimulator, httpx.Client], None]] = [
    plain_http_and_both_forges_on_one_port,
    any_hex_string_is_a_commit,
    no_rate_limit_headers,
    every_token_sees_every_repository,
    pull_requests_exist_only_when_registered,
    no_conditional_requests,
    only_the_endpoints_previews_use,
    gitlab_statuses_need_no_pipeline,
]


@pytest.mark.parametrize("difference", DIFFERENCES, ids=[d.__name__ for d in DIFFERENCES])
def test_the_fake_still_differs_as_documented(
    forge: ForgeSimulator, github: httpx.Client, difference: Callable[..., None]
) -> None:
    difference(forge, github)
