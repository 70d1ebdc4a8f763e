"""The GitLab REST endpoints the fake serves under /api/v4: merge request notes (list, create,
update) and commit statuses (create, list). ``simulators.github.server`` calls ``route``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from simulators.github.github import Handler, Request
from simulators.github.records import (
    GITLAB_BODY_LIMIT,
    SHA,
    Answer,
    Comment,
    Records,
    Status,
    gitlab_error,
    link_header,
    now,
    page_of,
)

PREFIX = "/api/v4"
STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
# The state machine event GitLab names when it refuses a repeated transition.
_EVENTS = {"pending": "enqueue", "running": "run"}
_PROJECT = r"/projects/(?P<project>[^/]+)"
_MR = _PROJECT + r"/merge_requests/(?P<iid>\d+)"


def authenticate(
    records: Records, private_token: str | None, bearer: str | None
) -> tuple[str, bool]:
    """The login behind ``PRIVATE-TOKEN`` (or ``Authorization: Bearer``), and whether it may
    write."""
    token = private_token
    if token is None and bearer and bearer.lower().startswith("bearer "):
        token = bearer[7:]
    login = records.tokens.get((token or "").strip())
    if login is None:
        raise gitlab_error(401, "401 Unauthorized")
    return login, (token or "").strip() not in records.read_only


def note_json(note: Comment) -> dict[str, Any]:
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "attachment": None,
        "author": {"id": 1, "username": note.author, "name": note.author, "state": "active"},
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "system": False,
        "noteable_id": 1000 + note.thread[1],
        "noteable_type": "MergeRequest",
        "noteable_iid": note.thread[1],
        "resolvable": False,
        "confidential": False,
        "internal": False,
    }


def status_json(status: Status) -> dict[str, Any]:
    finished = status.state in ("success", "failed", "canceled", "skipped")
    return {
        "id": status.id,
        "sha": status.sha,
        "ref": None,
        "status": status.state,
        "name": status.context,
        "target_url": status.target_url or None,
        "description": status.description or None,
        "created_at": status.created_at,
        "started_at": status.created_at if status.state != "pending" else None,
        "finished_at": status.created_at if finished else None,
        "allow_failure": False,
        "coverage": None,
    }


def _project(records: Records, params: dict[str, str]) -> str:
    raw = unquote(params["project"])
    name = records.project_ids.get(int(raw)) if raw.isdigit() else raw
    if name is None or name not in records.repositories:
        raise gitlab_error(404, "404 Project Not Found")
    return name


def _thread(records: Records, params: dict[str, str]) -> tuple[str, int]:
    found = records.thread_of(_project(records, params), int(params["iid"]))
    if found is None:
        raise gitlab_error(404, "404 Not found")
    return found


def _writable(request: Request) -> None:
    if not request.writable:
        raise gitlab_error(403, "403 Forbidden")


def _body_text(request: Request) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise gitlab_error(400, "body is missing", key="error")
    if len(text) > GITLAB_BODY_LIMIT:
        raise gitlab_error(
            400, {"note": [f"is too long (maximum is {GITLAB_BODY_LIMIT} characters)"]}
        )
    return text


def _pagination(request: Request, page: int, pages: int, total: int) -> dict[str, str]:
    return {
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Page": str(page),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "Link": link_header(request.base_url + request.path, request.query, page=page, pages=pages),
    }


def list_notes(records: Records, request: Request, params: dict[str, str]) -> Answer:
    thread = _thread(records, params)
    # GitLab lists notes newest first unless asked otherwise.
    newest_first = request.query.get("sort", "desc") != "asc"
    items = sorted(records.thread_comments(thread), key=lambda c: c.id, reverse=newest_first)
    page, number, pages = page_of(items, request.query, default=20)
    headers = _pagination(request, number, pages, len(items))
    return Answer(200, [note_json(n) for n in page], headers)


def create_note(records: Records, request: Request, params: dict[str, str]) -> Answer:
    thread = _thread(records, params)
    _writable(request)
    return Answer(201, note_json(records.add_comment(thread, _body_text(request), request.login)))


def update_note(records: Records, request: Request, params: dict[str, str]) -> Answer:
    thread = _thread(records, params)
    found = records.comments.get(int(params["note"]))
    if found is None or found.thread != thread:
        raise gitlab_error(404, "404 Not found")
    _writable(request)
    found.body = _body_text(request)
    found.updated_at = now()
    return Answer(200, note_json(found))


def create_status(records: Records, request: Request, params: dict[str, str]) -> Answer:
    _project(records, params)
    _writable(request)
    sha = params["sha"]
    if not SHA.match(sha):
        raise gitlab_error(404, "404 Commit Not Found")
    body = request.body if isinstance(request.body, dict) else {}
    state = body.get("state")
    if state not in STATES:
        raise gitlab_error(400, "state does not have a valid value", key="error")
    name = str(body.get("name") or body.get("context") or "default")
    current = [s for s in records.latest_statuses(sha) if s.context == name]
    if current and current[0].state == state and state in _EVENTS:
        event = _EVENTS[state]
        raise gitlab_error(400, f"Cannot transition status via :{event} from :{state} "
                                f'(Reason(s): Status cannot transition via "{event}")')  # fmt: skip
    made = records.add_status(
        sha, state=str(state), context=name, description=str(body.get("description") or ""),
        url=str(body.get("target_url") or ""),
    )  # fmt: skip
    return Answer(201, status_json(made))


def list_statuses(records: Records, request: Request, params: dict[str, str]) -> Answer:
    _project(records, params)
    sha = params["sha"]
    if request.query.get("all") == "true":
        found = [s for s in records.statuses if s.sha == sha]
    else:
        found = records.latest_statuses(sha)
    return Answer(200, [status_json(s) for s in found])


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(_MR + r"/notes$"), list_notes),
    ("POST", re.compile(_MR + r"/notes$"), create_note),
    ("PUT", re.compile(_MR + r"/notes/(?P<note>\d+)$"), update_note),
    ("POST", re.compile(_PROJECT + r"/statuses/(?P<sha>[^/]+)$"), create_status),
    ("GET", re.compile(_PROJECT + r"/repository/commits/(?P<sha>[^/]+)/statuses$"), list_statuses),
]


def route(records: Records, request: Request) -> Answer:
    """The answer to one authenticated GitLab request (path without the /api/v4 prefix)."""
    for method, pattern, handler in ROUTES:
        match = pattern.match(request.path)
        if match and method == request.method:
            return handler(records, request, match.groupdict())
    raise gitlab_error(404, "404 Not Found")
