"""The GitHub REST endpoints the fake serves: issue comments (list, create, update) and commit
statuses (create, combined). ``simulators.github.server`` calls ``route`` under the lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.github.records import (
    GITHUB_BODY_LIMIT,
    SHA,
    STATUS_DESCRIPTION_LIMIT,
    Answer,
    Comment,
    Records,
    Status,
    github_error,
    github_invalid,
    link_header,
    now,
    page_of,
)

STATES = ("error", "failure", "pending", "success")
_OWNER_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


@dataclass(frozen=True)
class Request:
    """One authenticated request, decoded."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str
    writable: bool
    base_url: str


Handler = Callable[[Records, Request, dict[str, str]], Answer]


def authenticate(records: Records, header: str | None) -> tuple[str, bool]:
    """The login behind ``Authorization: Bearer|token <token>``, and whether it may write."""
    if not header:
        raise github_error(401, "Requires authentication")
    scheme, _, token = header.partition(" ")
    login = records.tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") else None
    if login is None:
        raise github_error(401, "Bad credentials")
    return login, token.strip() not in records.read_only


def comment_json(comment: Comment, base: str) -> dict[str, Any]:
    repo, number = comment.thread
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": f"{base}/repos/{repo}/issues/comments/{comment.id}",
        "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment.id}",
        "issue_url": f"{base}/repos/{repo}/issues/{number}",
        "body": comment.body,
        "user": {"login": comment.author, "id": 1, "type": "User"},
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "author_association": "OWNER",
    }


def status_json(status: Status, base: str) -> dict[str, Any]:
    return {
        "id": status.id,
        "url": f"{base}/statuses/{status.sha}",
        "state": status.state,
        "description": status.description or None,
        "target_url": status.target_url or None,
        "context": status.context,
        "created_at": status.created_at,
        "updated_at": status.created_at,
    }


def _thread(records: Records, params: dict[str, str]) -> tuple[str, int]:
    found = records.thread_of(params["repo"], int(params["number"]))
    if found is None:
        raise github_error(404, "Not Found")
    return found


def _writable(request: Request) -> None:
    if not request.writable:
        raise github_error(403, "Resource not accessible by personal access token")


def _body_text(request: Request) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise github_invalid("IssueComment", "body", "", code="missing_field")
    if len(text) > GITHUB_BODY_LIMIT:
        raise github_invalid(
            "IssueComment", "body", f"body is too long (maximum is {GITHUB_BODY_LIMIT} characters)"
        )
    return text


def list_comments(records: Records, request: Request, params: dict[str, str]) -> Answer:
    thread = _thread(records, params)
    items = sorted(records.thread_comments(thread), key=lambda c: c.id)
    page, number, pages = page_of(items, request.query, default=30)
    link = link_header(request.base_url + request.path, request.query, page=number, pages=pages)
    body = [comment_json(c, request.base_url) for c in page]
    return Answer(200, body, {"Link": link} if pages > 1 else {})


def create_comment(records: Records, request: Request, params: dict[str, str]) -> Answer:
    thread = _thread(records, params)
    _writable(request)
    made = records.add_comment(thread, _body_text(request), request.login)
    return Answer(201, comment_json(made, request.base_url))


def update_comment(records: Records, request: Request, params: dict[str, str]) -> Answer:
    found = records.comments.get(int(params["id"]))
    if found is None or found.thread[0] != params["repo"]:
        raise github_error(404, "Not Found")
    _writable(request)
    found.body = _body_text(request)
    found.updated_at = now()
    return Answer(200, comment_json(found, request.base_url))


def create_status(records: Records, request: Request, params: dict[str, str]) -> Answer:
    if params["repo"] not in records.repositories:
        raise github_error(404, "Not Found")
    _writable(request)
    sha = params["sha"]
    if not SHA.match(sha):
        raise github_error(422, f"No commit found for SHA: {sha}")
    body = request.body if isinstance(request.body, dict) else {}
    state = body.get("state")
    if state not in STATES:
        raise github_invalid("Status", "state", "state is not included in the list")
    description = str(body.get("description") or "")
    if len(description) > STATUS_DESCRIPTION_LIMIT:
        message = f"description is too long (maximum is {STATUS_DESCRIPTION_LIMIT} characters)"
        raise github_invalid("Status", "description", message)
    made = records.add_status(
        sha, state=str(state), context=str(body.get("context") or "default"),
        description=description, url=str(body.get("target_url") or ""),
    )  # fmt: skip
    return Answer(201, status_json(made, request.base_url + f"/repos/{params['repo']}"))


def combined_status(records: Records, request: Request, params: dict[str, str]) -> Answer:
    if params["repo"] not in records.repositories:
        raise github_error(404, "Not Found")
    latest = records.latest_statuses(params["sha"])
    states = {s.state for s in latest}
    if states & {"error", "failure"}:
        state = "failure"
    elif not latest or "pending" in states:
        state = "pending"
    else:
        state = "success"
    base = request.base_url + f"/repos/{params['repo']}"
    return Answer(200, {
        "state": state, "sha": params["sha"], "total_count": len(latest),
        "statuses": [status_json(s, base) for s in latest],
    })  # fmt: skip


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(_OWNER_REPO + r"/issues/(?P<number>\d+)/comments$"), list_comments),
    ("POST", re.compile(_OWNER_REPO + r"/issues/(?P<number>\d+)/comments$"), create_comment),
    ("PATCH", re.compile(_OWNER_REPO + r"/issues/comments/(?P<id>\d+)$"), update_comment),
    ("POST", re.compile(_OWNER_REPO + r"/statuses/(?P<sha>[^/]+)$"), create_status),
    ("GET", re.compile(_OWNER_REPO + r"/commits/(?P<sha>[^/]+)/status$"), combined_status),
]


def route(records: Records, request: Request) -> Answer:
    """The answer to one authenticated GitHub request."""
    for method, pattern, handler in ROUTES:
        match = pattern.match(request.path)
        if match and method == request.method:
            return handler(records, request, match.groupdict())
    raise github_error(404, "Not Found")
