"""Signed GitHub and GitLab deliveries, shaped like the hosts send them, for the intake tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from reconciler.webhooks import github_signature

SECRET = "s3cret-webhook-value"
GITHUB_REPO = {
    "id": 1,
    "full_name": "acme/env-repo",
    "clone_url": "https://github.com/acme/env-repo.git",
    "ssh_url": "git@github.com:acme/env-repo.git",
    "private": True,
}
GITLAB_PROJECT = {
    "id": 7,
    "path_with_namespace": "acme/env-repo",
    "git_http_url": "https://gitlab.example.com/acme/env-repo.git",
    "git_ssh_url": "git@gitlab.example.com:acme/env-repo.git",
}


def github_push(after: str = "b" * 40) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": after,
        "repository": GITHUB_REPO,
        "pusher": {"name": "dev"},
        "commits": [{"id": after, "message": "change"}],
    }


def github_pull_request(action: str = "opened") -> dict[str, Any]:
    return {
        "action": action,
        "number": 42,
        "pull_request": {
            "head": {"ref": "feature", "sha": "c" * 40},
            "base": {"ref": "main", "sha": "a" * 40},
            "merged": False,
            "title": "Scale the web app",
        },
        "repository": GITHUB_REPO,
    }


def github_pull_request_merged(merge_commit: str = "f" * 40) -> dict[str, Any]:
    """GitHub's ``closed`` event of a merged pull request, naming the commit it landed as."""
    body = github_pull_request("closed")
    body["pull_request"].update(
        {"merged": True, "merge_commit_sha": merge_commit, "state": "closed"}
    )
    return body


def github_ping() -> dict[str, Any]:
    return {"zen": "Keep it logically awesome.", "hook_id": 9, "repository": GITHUB_REPO}


def gitlab_push() -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": "d" * 40,
        "project": GITLAB_PROJECT,
    }


def gitlab_merge_request() -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "object_attributes": {
            "iid": 5,
            "action": "open",
            "state": "opened",
            "source_branch": "feature",
            "target_branch": "main",
            "last_commit": {"id": "e" * 40},
        },
        "project": GITLAB_PROJECT,
    }


def gitlab_merge_request_merged(
    merge_commit: str | None = "f" * 40, squash_commit: str | None = None
) -> dict[str, Any]:
    """GitLab's ``merge`` event; a squash merge without a merge commit names only the
    squashed commit."""
    body = gitlab_merge_request()
    body["object_attributes"].update(
        {"action": "merge", "state": "merged", "merge_commit_sha": merge_commit,
         "squash_commit_sha": squash_commit, "squash": squash_commit is not None}
    )  # fmt: skip
    return body


@dataclass
class Signed:
    """A delivery ready to send: the exact body bytes and the headers a host would add."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def github(event: str, payload: dict[str, Any], *, secret: str = SECRET) -> Signed:
    body = json.dumps(payload).encode()
    return Signed(
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(body, secret),
        },
    )


def gitlab(event: str, payload: dict[str, Any], *, secret: str = SECRET) -> Signed:
    return Signed(
        json.dumps(payload).encode(),
        {
            "Content-Type": "application/json",
            "X-Gitlab-Event": event,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Token": secret,
        },
    )


class Recorder:
    """An enqueue callable that keeps every delivery handed to it."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, delivery: Any) -> None:
        self.calls.append(delivery)


def secrets_for(repository: Any) -> tuple[str, ...]:
    """The one registered repository, under both hosts."""
    return (SECRET,) if repository.full_name == "acme/env-repo" else ()
