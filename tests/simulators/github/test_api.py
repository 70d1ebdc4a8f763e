"""The fake forge over HTTP: comments, notes, statuses, auth, error shapes, limits, recording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from simulators.github import GITHUB_BODY_LIMIT, ForgeSimulator
from tests.simulators.github.conftest import PROJECT_ID, READ_ONLY, REPO, TOKEN

SHA = "a" * 40
COMMENTS = f"/repos/{REPO}/issues/7/comments"
NOTES = f"/projects/{PROJECT_ID}/merge_requests/3/notes"


def test_a_github_comment_is_created_listed_and_edited_in_place(github: httpx.Client) -> None:
    made = github.post(COMMENTS, json={"body": "first"})
    assert made.status_code == 201
    comment_id = made.json()["id"]
    edited = github.patch(f"/repos/{REPO}/issues/comments/{comment_id}", json={"body": "second"})
    listed = github.get(COMMENTS).json()
    assert (edited.status_code, [c["body"] for c in listed]) == (200, ["second"])
    assert listed[0]["id"] == comment_id
    assert set(listed[0]) >= {"id", "body", "user", "created_at", "updated_at", "html_url"}


def test_github_comments_are_paginated_with_a_link_header(github: httpx.Client) -> None:
    for index in range(5):
        github.post(COMMENTS, json={"body": f"c{index}"})
    first = github.get(COMMENTS, params={"per_page": "2"})
    following = first.links["next"]["url"]
    second = github.get(following)
    assert [c["body"] for c in first.json() + second.json()] == ["c0", "c1", "c2", "c3"]
    assert "page=3" in first.links["last"]["url"]


def test_a_body_past_the_github_limit_is_refused_with_422(github: httpx.Client) -> None:
    answer = github.post(COMMENTS, json={"body": "x" * (GITHUB_BODY_LIMIT + 1)})
    assert answer.status_code == 422
    body = answer.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"][0]["field"] == "body"
    assert "body is too long" in body["errors"][0]["message"]
    assert github.post(COMMENTS, json={"body": "x" * GITHUB_BODY_LIMIT}).status_code == 201


@dataclass(frozen=True)
class Refusal:
    case: str
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    status: int
    message: str


def refusals(*rows: tuple[Any, ...]) -> list[Any]:
    return [pytest.param(Refusal(*row), id=row[0]) for row in rows]


ERRORS = refusals(
    ("no token", "GET", COMMENTS, None, {"Authorization": ""}, 401, "Requires authentication"),
    ("wrong token", "GET", COMMENTS, None, {"Authorization": "Bearer x"}, 401, "Bad credentials"),
    ("unknown repository", "GET", "/repos/acme/other/issues/7/comments", None, {}, 404,
     "Not Found"),
    ("unknown pull request", "POST", f"/repos/{REPO}/issues/8/comments", {"body": "x"}, {},
     404, "Not Found"),
    ("unknown comment", "PATCH", f"/repos/{REPO}/issues/comments/999", {"body": "x"}, {},
     404, "Not Found"),
    ("empty body", "POST", COMMENTS, {"body": ""}, {}, 422, "Validation Failed"),
    ("read-only token", "POST", COMMENTS, {"body": "x"}, {"Authorization": f"token {READ_ONLY}"},
     403, "Resource not accessible by personal access token"),
    ("bad status state", "POST", f"/repos/{REPO}/statuses/{SHA}", {"state": "done"}, {},
     422, "Validation Failed"),
    ("long description", "POST", f"/repos/{REPO}/statuses/{SHA}",
     {"state": "success", "description": "d" * 141}, {}, 422, "Validation Failed"),
    ("not a commit", "POST", f"/repos/{REPO}/statuses/main", {"state": "success"}, {},
     422, "No commit found for SHA: main"),
)  # fmt: skip


@pytest.mark.parametrize("refusal", ERRORS)
def test_github_errors_have_github_s_shape(github: httpx.Client, refusal: Refusal) -> None:
    answer = github.request(
        refusal.method, refusal.path, json=refusal.body, headers=refusal.headers
    )
    status, message = refusal.status, refusal.message
    data = answer.json()
    assert (answer.status_code, data["message"]) == (status, message)
    assert data["documentation_url"].startswith("https://docs.github.com/")
    assert ("errors" in data) == (status == 422 and message == "Validation Failed")


def test_the_combined_status_is_the_worst_latest_state_per_context(github: httpx.Client) -> None:
    where = f"/repos/{REPO}/statuses/{SHA}"
    github.post(where, json={"state": "pending", "context": "rxt/plan"})
    assert github.get(f"/repos/{REPO}/commits/{SHA}/status").json()["state"] == "pending"
    github.post(where, json={"state": "success", "context": "rxt/plan"})
    github.post(where, json={"state": "success", "context": "ci"})
    combined = github.get(f"/repos/{REPO}/commits/{SHA}/status").json()
    assert (combined["state"], combined["total_count"]) == ("success", 2)
    github.post(where, json={"state": "failure", "context": "ci"})
    assert github.get(f"/repos/{REPO}/commits/{SHA}/status").json()["state"] == "failure"


def test_a_gitlab_note_is_created_listed_newest_first_and_edited(gitlab: httpx.Client) -> None:
    first = gitlab.post(NOTES, json={"body": "one"}).json()
    gitlab.post(NOTES, json={"body": "two"})
    edited = gitlab.put(f"{NOTES}/{first['id']}", json={"body": "one, edited"})
    listed = [n["body"] for n in gitlab.get(NOTES).json()]
    ascending = [n["body"] for n in gitlab.get(NOTES, params={"sort": "asc"}).json()]
    assert edited.status_code == 200
    assert (listed, ascending) == (["two", "one, edited"], ["one, edited", "two"])


def test_a_gitlab_project_is_found_by_id_or_by_its_encoded_path(gitlab: httpx.Client) -> None:
    gitlab.post(NOTES, json={"body": "hello"})
    by_path = gitlab.get("/projects/acme%2Fgl-envs/merge_requests/3/notes")
    assert [n["body"] for n in by_path.json()] == ["hello"]


GITLAB_ERRORS = refusals(
    ("no token", "GET", NOTES, None, {"PRIVATE-TOKEN": ""}, 401, "401 Unauthorized"),
    ("unknown project", "GET", "/projects/99/merge_requests/3/notes", None, {}, 404,
     "404 Project Not Found"),
    ("unknown merge request", "GET", f"/projects/{PROJECT_ID}/merge_requests/4/notes", None, {},
     404, "404 Not found"),
    ("read-only token", "POST", NOTES, {"body": "x"}, {"PRIVATE-TOKEN": READ_ONLY}, 403,
     "403 Forbidden"),
)  # fmt: skip


@pytest.mark.parametrize("refusal", GITLAB_ERRORS)
def test_gitlab_errors_have_gitlab_s_shape(gitlab: httpx.Client, refusal: Refusal) -> None:
    answer = gitlab.request(
        refusal.method, refusal.path, json=refusal.body, headers=refusal.headers
    )
    assert (answer.status_code, answer.json()) == (refusal.status, {"message": refusal.message})


def test_a_gitlab_status_refuses_repeating_a_pending_state(gitlab: httpx.Client) -> None:
    where = f"/projects/{PROJECT_ID}/statuses/{SHA}"
    assert gitlab.post(where, json={"state": "pending", "name": "rxt/plan"}).status_code == 201
    again = gitlab.post(where, json={"state": "pending", "name": "rxt/plan"})
    assert again.status_code == 400
    assert "Cannot transition status" in again.json()["message"]
    assert gitlab.post(where, json={"state": "failed", "name": "rxt/plan"}).status_code == 201
    listed = gitlab.get(f"/projects/{PROJECT_ID}/repository/commits/{SHA}/statuses").json()
    assert [(s["name"], s["status"]) for s in listed] == [("rxt/plan", "failed")]


def test_every_call_is_recorded_with_its_answer(
    forge: ForgeSimulator, github: httpx.Client, gitlab: httpx.Client
) -> None:
    github.post(COMMENTS, json={"body": "x"})
    github.get("/repos/acme/missing/issues/1/comments")
    gitlab.post(NOTES, json={"body": "y"})
    seen = [(c.provider, c.method, c.path, c.status) for c in forge.calls()]
    assert seen == [
        ("github", "POST", COMMENTS, 201),
        ("github", "GET", "/repos/acme/missing/issues/1/comments", 404),
        ("gitlab", "POST", "/api/v4" + NOTES, 201),
    ]
    assert forge.calls(method="POST", provider="github")[0].body == {"body": "x"}


def test_an_injected_fault_answers_the_next_matching_calls(
    forge: ForgeSimulator, github: httpx.Client
) -> None:
    forge.inject(502, times=2, path=f"/repos/{REPO}/issues")
    statuses = [github.get(COMMENTS).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


def test_the_token_is_accepted_in_the_token_scheme_too(forge: ForgeSimulator) -> None:
    answer = httpx.get(forge.url + COMMENTS, headers={"Authorization": f"token {TOKEN}"})
    assert answer.status_code == 200
