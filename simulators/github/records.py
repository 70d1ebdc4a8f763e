"""What the fake forge holds and the errors it answers with: repositories, pull and merge
requests, comments and notes, commit statuses, tokens, injected faults and every call made.

``simulators.github.github`` and ``simulators.github.gitlab`` route requests onto ``Records``.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field
from typing import Any

GITHUB_DOCS = "https://docs.github.com/rest"
# GitHub refuses comment bodies past this many characters (ARCHITECTURE.md, "PR comments over
# the size limit"); GitLab's note limit is far larger.
GITHUB_BODY_LIMIT = 65_535
GITLAB_BODY_LIMIT = 1_000_000
STATUS_DESCRIPTION_LIMIT = 140
SHA = re.compile(r"^[0-9a-f]{7,40}$")


class Answer(Exception):
    """A finished response, raised from deep inside routing."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def github_error(
    status: int, message: str, *, errors: list[dict[str, str]] | None = None
) -> Answer:
    """GitHub's error body: ``message``, ``documentation_url``, and for 422 an ``errors`` list."""
    body: dict[str, Any] = {"message": message, "documentation_url": GITHUB_DOCS}
    if errors is not None:
        body["errors"] = errors
    body["status"] = str(status)
    return Answer(status, body)


def github_invalid(resource: str, field_name: str, message: str, *, code: str = "custom") -> Answer:
    """GitHub's 422 ``Validation Failed`` naming the resource and field at fault."""
    error = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return github_error(422, "Validation Failed", errors=[error])


def gitlab_error(status: int, message: Any, *, key: str = "message") -> Answer:
    """GitLab's error body: ``{"message": ...}`` (``{"error": ...}`` for missing parameters)."""
    return Answer(status, {key: message})


@dataclass(frozen=True)
class Call:
    """One request the fake answered."""

    provider: str
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class Injection:
    """The next ``times`` requests whose path starts with ``path`` get ``status``."""

    status: int
    times: int
    path: str = ""
    retry_after: int | None = None


@dataclass
class Comment:
    """A GitHub issue comment or a GitLab merge request note."""

    id: int
    thread: tuple[str, int]
    body: str
    author: str
    created_at: str
    updated_at: str


@dataclass
class Status:
    """One commit status as posted."""

    id: int
    sha: str
    state: str
    context: str
    description: str
    target_url: str
    created_at: str


@dataclass
class Records:
    """Everything the fake knows, behind one lock shared by every connection."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    read_only: set[str] = field(default_factory=set)
    repositories: dict[str, set[int]] = field(default_factory=dict)  # name -> PR/MR numbers
    project_ids: dict[int, str] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: int = 0

    def next_id(self) -> int:
        self.serial += 1
        return self.serial

    def thread_of(self, repository: str, number: int) -> tuple[str, int] | None:
        """The comment thread of a pull or merge request, or None when it does not exist."""
        numbers = self.repositories.get(repository)
        return (repository, number) if numbers is not None and number in numbers else None

    def thread_comments(self, thread: tuple[str, int]) -> list[Comment]:
        return [c for c in self.comments.values() if c.thread == thread]

    def add_comment(self, thread: tuple[str, int], body: str, author: str) -> Comment:
        stamp = now()
        made = Comment(self.next_id(), thread, body, author, stamp, stamp)
        self.comments[made.id] = made
        return made

    def add_status(
        self, sha: str, *, state: str, context: str, description: str, url: str
    ) -> Status:
        made = Status(self.next_id(), sha, state, context, description, url, now())
        self.statuses.append(made)
        return made

    def latest_statuses(self, sha: str) -> list[Status]:
        """The newest status of each context on ``sha``, newest first."""
        latest: dict[str, Status] = {}
        for status in self.statuses:
            if status.sha == sha:
                latest[status.context] = status
        return sorted(latest.values(), key=lambda s: s.id, reverse=True)

    def injected(self, path: str) -> Injection | None:
        """The fault to answer ``path`` with, counting it down."""
        for injection in self.injections:
            if injection.times > 0 and path.startswith(injection.path):
                injection.times -= 1
                return injection
        return None


def now() -> str:
    """A timestamp in the forges' ISO 8601 form, to the second, in UTC."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_of(items: list[Any], query: dict[str, str], *, default: int) -> tuple[list[Any], int, int]:
    """One page of ``items`` from ``page`` and ``per_page`` (at most 100), with the page number
    and the number of pages."""
    size = max(1, min(100, _int(query.get("per_page"), default)))
    page = max(1, _int(query.get("page"), 1))
    pages = max(1, -(-len(items) // size))
    return items[(page - 1) * size : page * size], page, pages


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def link_header(base: str, query: dict[str, str], *, page: int, pages: int) -> str:
    """An RFC 8288 ``Link`` header with ``next`` and ``last``, as both forges send."""
    links = []
    if page < pages:
        links.append(f'<{_with_page(base, query, page + 1)}>; rel="next"')
    links.append(f'<{_with_page(base, query, pages)}>; rel="last"')
    return ", ".join(links)


def _with_page(base: str, query: dict[str, str], page: int) -> str:
    params = {**query, "page": str(page)}
    return base + "?" + "&".join(f"{key}={value}" for key, value in sorted(params.items()))
