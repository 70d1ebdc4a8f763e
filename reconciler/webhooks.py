"""GitHub and GitLab webhook payloads: which repository, signature checks, the fields we use.

``reconciler.intake`` calls these on the raw bytes received; nothing here does I/O. GitHub signs
the body with HMAC SHA-256; GitLab sends its shared token as is. Both are compared in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import RxtError

Provider = Literal["github", "gitlab"]
Outcome = Literal[
    "accepted",
    "replayed",
    "bad_signature",
    "unknown_source",
    "unknown_event",
    "malformed",
    "oversized",
    "rate_limited",
    "timeout",
    "unavailable",
]

GITHUB_EVENTS = ("push", "pull_request", "ping")
GITLAB_EVENTS = ("Push Hook", "Merge Request Hook")


class WebhookRejected(RxtError):
    """A delivery refused before any work was queued: the HTTP status and the outcome counted."""

    def __init__(
        self,
        message: str,
        *,
        outcome: Outcome,
        status: int,
        hint: str = "",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.outcome: Outcome = outcome
        self.status = status
        self.retry_after = retry_after


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Repository(_Frozen):
    """The repository a delivery is about, as the host names it."""

    provider: Provider
    full_name: str
    clone_url: str
    ssh_url: str = ""


class Push(_Frozen):
    """A branch or tag moved from ``before`` to ``after``."""

    kind: Literal["push"] = "push"
    repository: Repository
    ref: str
    before: str
    after: str


class ReviewRequest(_Frozen):
    """A GitHub pull request or GitLab merge request changed (``number`` is the iid on GitLab).

    ``merged`` is set once the review is merged; ``merge_commit`` is then the commit it landed
    as on the base branch (a merge, squash or rebased commit), '' when the host did not say.
    """

    kind: Literal["review"] = "review"
    repository: Repository
    action: str
    number: int
    head_sha: str
    base_ref: str
    merged: bool = False
    merge_commit: str = ""


class Ping(_Frozen):
    """GitHub's check that a new webhook reaches us."""

    kind: Literal["ping"] = "ping"
    repository: Repository


Event = Push | ReviewRequest | Ping


# The wire shapes: only the fields used; pydantic ignores the rest of each payload.
class _GitHubRepo(BaseModel):
    full_name: str
    clone_url: str
    ssh_url: str = ""


class _GitLabProject(BaseModel):
    path_with_namespace: str
    git_http_url: str
    git_ssh_url: str = ""


class _Ref(BaseModel):
    ref: str = ""
    sha: str = ""


class _PullRequest(BaseModel):
    head: _Ref
    base: _Ref
    merged: bool | None = False
    merge_commit_sha: str | None = None


class _GitHubReview(BaseModel):
    action: str
    number: int
    pull_request: _PullRequest


class _PushBody(BaseModel):
    ref: str
    before: str
    after: str


class _LastCommit(BaseModel):
    id: str


class _MergeAttributes(BaseModel):
    iid: int
    action: str = ""
    target_branch: str
    last_commit: _LastCommit
    state: str = ""
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None


class _GitLabReview(BaseModel):
    object_attributes: _MergeAttributes


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _malformed(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise _malformed("the body is not a JSON object")
    return data


def _malformed(message: str) -> WebhookRejected:
    return WebhookRejected(
        message,
        outcome="malformed",
        status=400,
        hint="send the host's webhook payload unchanged, as application/json",
    )


def identify(provider: Provider, body: bytes) -> Repository:
    """The repository a delivery names, read before verifying so its secret can be found.

    Raises:
        WebhookRejected: the body is not JSON or names no repository.
    """
    data = _json(body)
    try:
        if provider == "github":
            repo = _GitHubRepo.model_validate(data.get("repository"))
            return Repository(
                provider=provider,
                full_name=repo.full_name,
                clone_url=repo.clone_url,
                ssh_url=repo.ssh_url,
            )
        project = _GitLabProject.model_validate(data.get("project"))
    except ValidationError:
        raise _malformed("the payload names no repository") from None
    return Repository(
        provider=provider,
        full_name=project.path_with_namespace,
        clone_url=project.git_http_url,
        ssh_url=project.git_ssh_url,
    )


def github_signature(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """True when ``signature`` is the HMAC SHA-256 of the exact bytes under one of ``secrets``.

    Every secret is compared, in constant time, so timing does not tell which one nearly matched.
    """
    if not signature:
        return False
    given = signature.encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(github_signature(body, secret).encode(), given)
    return matched


def verify_gitlab(token: str | None, secrets: Sequence[str]) -> bool:
    """True when GitLab's ``X-Gitlab-Token`` equals one of ``secrets``.

    Digests are compared rather than the tokens, so the comparison takes the same time
    whatever the length of the token sent.
    """
    if not token:
        return False
    given = hashlib.sha256(token.encode()).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), given)
    return matched


def parse_event(provider: Provider, event: str, body: bytes, repository: Repository) -> Event:
    """The fields used from a verified delivery.

    Raises:
        WebhookRejected: the event is not one we handle, or its payload lacks a field we use.
    """
    data = _json(body)
    try:
        if provider == "github":
            return _github_event(event, data, repository)
        return _gitlab_event(event, data, repository)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors()[:5])
        raise _malformed(f"the {event!r} payload lacks or mistypes: {fields}") from None


def _github_event(event: str, data: dict[str, Any], repository: Repository) -> Event:
    if event == "push":
        push = _PushBody.model_validate(data)
        return Push(repository=repository, ref=push.ref, before=push.before, after=push.after)
    if event == "pull_request":
        review = _GitHubReview.model_validate(data)
        pr = review.pull_request
        return ReviewRequest(
            repository=repository,
            action=review.action,
            number=review.number,
            head_sha=pr.head.sha,
            base_ref=pr.base.ref,
            merged=bool(pr.merged),
            # GitHub fills merge_commit_sha with a test merge while the review is open.
            merge_commit=(pr.merge_commit_sha or "") if pr.merged else "",
        )
    if event == "ping":
        return Ping(repository=repository)
    raise _unknown(event, GITHUB_EVENTS)


def _gitlab_event(event: str, data: dict[str, Any], repository: Repository) -> Event:
    if event == "Push Hook":
        push = _PushBody.model_validate(data)
        return Push(repository=repository, ref=push.ref, before=push.before, after=push.after)
    if event == "Merge Request Hook":
        attrs = _GitLabReview.model_validate(data).object_attributes
        merged = attrs.state == "merged" or attrs.action == "merge"
        return ReviewRequest(
            repository=repository,
            action=attrs.action,
            number=attrs.iid,
            head_sha=attrs.last_commit.id,
            base_ref=attrs.target_branch,
            merged=merged,
            # A squash merge names both; the squashed commit is the one on the target branch
            # unless GitLab also made a merge commit on top of it.
            merge_commit=(attrs.merge_commit_sha or attrs.squash_commit_sha or "")
            if merged
            else "",
        )
    raise _unknown(event, GITLAB_EVENTS)


def _unknown(event: str, handled: Sequence[str]) -> WebhookRejected:
    return WebhookRejected(
        f"event {event!r} is not handled",
        outcome="unknown_event",
        status=400,
        hint=f"subscribe the webhook to these events only: {', '.join(handled)}",
    )
