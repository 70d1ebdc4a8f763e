"""Thin httpx clients for the GitHub and GitLab endpoints PR previews use: a sticky comment found
by its hidden marker and edited in place, and a commit status.

``reconciler.previews`` calls them through the ``Review`` protocol; errors come out as the
``core.errors`` tree (401/403 FatalError, 404 NotFound, 400/422 InvalidRequest, 429/5xx and
connection failures TransientError after bounded, jittered retries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self
from urllib.parse import quote

import httpx

from core.errors import (
    ConfigError,
    FatalError,
    InvalidRequest,
    NotFound,
    PlatformError,
    TransientError,
)
from core.logs import get_logger

log = get_logger()

STATES = ("pending", "success", "failure", "error")
# GitLab's names for our states; "error" has no twin there.
_GITLAB_STATES = {
    "pending": "pending",
    "success": "success",
    "failure": "failed",
    "error": "failed",
}
_DESCRIPTION_LIMIT = 140  # GitHub refuses longer status descriptions
_ERROR_TEXT = 300  # characters of a foreign error body kept in our message


@dataclass(frozen=True)
class Posted:
    """A comment (GitHub) or note (GitLab) as the forge stored it."""

    id: int
    body: str
    created: bool


@dataclass(frozen=True)
class Retry:
    """Bounded exponential backoff with full jitter; ``Retry-After`` is honoured up to ``cap``."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 8.0

    def delay(self, attempt: int, *, retry_after: float | None, rng: Callable[[], float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return float(min(self.cap, self.base * 2**attempt) * rng())


class Review(Protocol):
    """One pull or merge request, as previews talk to it."""

    def upsert_sticky_comment(self, marker: str, body: str) -> Posted: ...

    def set_status(self, sha: str, *, state: str, description: str, context: str) -> None: ...


class _RestForge:
    """What the GitHub and GitLab clients share: auth, retries, pagination, error mapping."""

    name = ""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        client: httpx.Client | None = None,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)
        self.headers = dict(headers)
        self.retry = retry or Retry()
        self.sleep, self.rng = sleep, rng

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, json: Any = None, params: Any = None
    ) -> httpx.Response:
        """One call, retried on 429, 5xx and connection failures; classified otherwise."""
        url = path if path.startswith("http") else self.base_url + path
        for attempt in range(self.retry.attempts):
            try:
                answer = self.client.request(
                    method, url, json=json, params=params, headers=self.headers
                )
            except httpx.TransportError as error:
                failure: PlatformError = TransientError(
                    f"{self.name} {method} {path} failed: {error}",
                    hint=f"check that {self.base_url} is reachable",
                )
                failure.__cause__ = error
                retry_after = None
            else:
                if answer.is_success:
                    return answer
                failure = self.classify(method, path, answer)
                retry_after = _retry_after(answer)
            if not failure.retryable or attempt + 1 == self.retry.attempts:
                raise failure
            wait = self.retry.delay(attempt, retry_after=retry_after, rng=self.rng)
            log.warning("forge.retried", forge=self.name, path=path, attempt=attempt + 1, wait=wait)
            self.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    def pages(self, path: str, *, params: Mapping[str, str]) -> Iterator[Any]:
        """Every item of a paginated list, following ``Link: rel="next"``."""
        answer = self.request("GET", path, params=dict(params))
        while True:
            yield from answer.json()
            following = answer.links.get("next", {}).get("url")
            if not following:
                return
            answer = self.request("GET", following)

    def classify(self, method: str, path: str, answer: httpx.Response) -> PlatformError:
        """The ``core.errors`` class for a refusal; the forge's own words kept, capped."""
        status = answer.status_code
        text = f"{self.name} refused {method} {path}: {status} {_reason(answer)}"
        if status == 429 or status >= 500 or _rate_limited(answer):
            return TransientError(text, hint="retried with backoff; try again later")
        if status in (401, 403):
            return FatalError(text, hint=f"check the {self.name} token and its permissions")
        if status == 404:
            return NotFound(text, hint="check the repository name and the request number")
        return InvalidRequest(text, hint="the request was refused as sent; retrying cannot help")

    def upsert_sticky_comment(self, marker: str, body: str) -> Posted:
        """Edit the comment whose first line is ``marker``; create it only when absent."""
        text = body if body.startswith(marker) else f"{marker}\n{body}"
        found = self.find_comment(marker)
        if found is None:
            made = self.create_comment(text)
            log.info("comment.created", forge=self.name, comment=made.id)
            return made
        if found.body == text:
            return found
        edited = self.edit_comment(found.id, text)
        log.info("comment.updated", forge=self.name, comment=edited.id)
        return edited

    def find_comment(self, marker: str) -> Posted | None:
        """The oldest comment whose first line is ``marker`` (a quote of it starts with ``>``)."""
        for item in self.list_comments():
            body = str(item.get("body") or "")
            if body.split("\n", 1)[0].strip() == marker:
                return Posted(int(item["id"]), body, created=False)
        return None

    def list_comments(self) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def create_comment(self, body: str) -> Posted:
        raise NotImplementedError

    def edit_comment(self, comment_id: int, body: str) -> Posted:
        raise NotImplementedError


class GitHubReview(_RestForge):
    """A GitHub pull request: conversation comments go through the issues endpoints."""

    name = "GitHub"

    def __init__(self, repository: str, number: int, *, token: str,
                 base_url: str = "https://api.github.com", **options: Any) -> None:  # fmt: skip
        _need_token(token, "GitHub")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28"}  # fmt: skip
        super().__init__(base_url=base_url, headers=headers, **options)
        self.repository, self.number = repository, number

    def list_comments(self) -> Iterator[dict[str, Any]]:
        path = f"/repos/{self.repository}/issues/{self.number}/comments"
        return self.pages(path, params={"per_page": "100"})

    def create_comment(self, body: str) -> Posted:
        path = f"/repos/{self.repository}/issues/{self.number}/comments"
        made = self.request("POST", path, json={"body": body}).json()
        return Posted(int(made["id"]), str(made["body"]), created=True)

    def edit_comment(self, comment_id: int, body: str) -> Posted:
        path = f"/repos/{self.repository}/issues/comments/{comment_id}"
        made = self.request("PATCH", path, json={"body": body}).json()
        return Posted(int(made["id"]), str(made["body"]), created=False)

    def set_status(
        self, sha: str, *, state: str, description: str, context: str = "rxt/plan"
    ) -> None:
        """Post a commit status: the Checks API needs a GitHub App, statuses work with any token."""
        body = {"state": _state(state), "description": _short(description), "context": context}
        self.request("POST", f"/repos/{self.repository}/statuses/{sha}", json=body)


class GitLabReview(_RestForge):
    """A GitLab merge request: notes and commit statuses of its project."""

    name = "GitLab"

    def __init__(self, project: str | int, iid: int, *, token: str,
                 base_url: str = "https://gitlab.com/api/v4", **options: Any) -> None:  # fmt: skip
        _need_token(token, "GitLab")
        super().__init__(base_url=base_url, headers={"PRIVATE-TOKEN": token}, **options)
        self.project = quote(str(project), safe="")
        self.iid = iid

    def list_comments(self) -> Iterator[dict[str, Any]]:
        path = f"/projects/{self.project}/merge_requests/{self.iid}/notes"
        return self.pages(path, params={"per_page": "100", "sort": "asc"})

    def create_comment(self, body: str) -> Posted:
        path = f"/projects/{self.project}/merge_requests/{self.iid}/notes"
        made = self.request("POST", path, json={"body": body}).json()
        return Posted(int(made["id"]), str(made["body"]), created=True)

    def edit_comment(self, comment_id: int, body: str) -> Posted:
        path = f"/projects/{self.project}/merge_requests/{self.iid}/notes/{comment_id}"
        made = self.request("PUT", path, json={"body": body}).json()
        return Posted(int(made["id"]), str(made["body"]), created=False)

    def set_status(
        self, sha: str, *, state: str, description: str, context: str = "rxt/plan"
    ) -> None:
        body = {"state": _GITLAB_STATES[_state(state)], "description": _short(description),
                "name": context}  # fmt: skip
        self.request("POST", f"/projects/{self.project}/statuses/{sha}", json=body)


def open_review(
    provider: str,
    repository: str,
    number: int,
    *,
    token: str,
    base_url: str = "",
    client: httpx.Client | None = None,
) -> GitHubReview | GitLabReview:
    """The client of one review on ``provider`` (github or gitlab), as a webhook names it;
    ``base_url`` '' means the public service; ``client`` the HTTP client to send with (one of
    its own by default), closed with the review."""
    options: dict[str, Any] = {"base_url": base_url} if base_url else {}
    if client is not None:
        options["client"] = client
    if provider == "github":
        return GitHubReview(repository, number, token=token, **options)
    if provider == "gitlab":
        return GitLabReview(repository, number, token=token, **options)
    raise ConfigError(
        f"pull request previews do not support {provider!r}",
        hint="previews support GitHub and GitLab repositories",
    )


def _need_token(token: str, forge: str) -> None:
    if not token:
        raise ConfigError(
            f"no {forge} token is configured for pull request previews",
            hint=f"set the {forge} token of the repository (GITHUB_TOKEN or GITLAB_TOKEN)",
        )


def _state(state: str) -> str:
    if state not in STATES:
        raise ValueError(f"commit status state {state!r} is not one of {', '.join(STATES)}")
    return state


def _short(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_LIMIT else text[: _DESCRIPTION_LIMIT - 1] + "…"


def _reason(answer: httpx.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return answer.text[:_ERROR_TEXT]
    if not isinstance(data, dict):
        return str(data)[:_ERROR_TEXT]
    words = [str(data.get("message") or data.get("error") or "")]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            words.append(str(error.get("message") or f"{error.get('field')} {error.get('code')}"))
    return "; ".join(w for w in words if w)[:_ERROR_TEXT]


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _rate_limited(answer: httpx.Response) -> bool:
    # GitHub answers 403 (not 429) when a token's primary rate limit is spent.
    return answer.status_code == 403 and answer.headers.get("X-RateLimit-Remaining") == "0"
