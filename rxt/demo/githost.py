"""The demo's GitHub stand-in for Git: ``git daemon`` serving the demo's bare repositories on
loopback, and the signed webhooks GitHub would send about them. ``rxt.demo.stage`` starts the
host; the scenes send the webhooks.

The engine fetches over ``git://127.0.0.1:<port>/acme/envs.git``, so the name webhooks carry
(``acme/envs``, read from the URL as for any Git host) is the one the GitHub fake knows.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.errors import RxtError
from reconciler.webhooks import github_signature

_READY_SECONDS = 10.0


class GitHostFailed(RxtError):
    """``git daemon`` did not start or stop."""


@dataclass
class GitHost:
    """``git daemon`` exporting every repository under ``root``; stopped by its process id."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}"

    def url_of(self, name: str) -> str:
        """The clone URL of repository ``name`` (``owner/repo``)."""
        return f"{self.url}/{name}.git"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_git_host(root: Path, *, port: int) -> GitHost:
    """Serve ``root`` read-only on 127.0.0.1:``port``; returns once it accepts connections.

    Raises:
        GitHostFailed: git is not installed, or the daemon did not listen in time.
    """
    git = shutil.which("git")
    if git is None:
        raise GitHostFailed("git is not installed", hint="install it: `make debs`")
    root.mkdir(parents=True, exist_ok=True)
    command = [
        git, "daemon", f"--base-path={root}", "--export-all", "--reuseaddr",
        "--listen=127.0.0.1", f"--port={port}", str(root),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - the system's git, with arguments we chose
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = GitHost(root, port, process)
    deadline = time.monotonic() + _READY_SECONDS
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            host.stop()
            raise GitHostFailed(
                f"git daemon did not listen on 127.0.0.1:{port} within {_READY_SECONDS:.0f} s",
                hint="check that `git daemon` runs on this machine (Debian package git)",
            )
        time.sleep(0.05)
    return host


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _repository(name: str, url: str) -> dict[str, Any]:
    return {"full_name": name, "clone_url": url, "private": True}


def push_event(name: str, *, url: str, before: str, after: str) -> dict[str, Any]:
    """GitHub's ``push`` payload for ``main`` moving from ``before`` to ``after``."""
    return {
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": _repository(name, url), "pusher": {"name": "demo"},
    }  # fmt: skip


def pull_request_event(
    name: str, *, url: str, number: int, head: str, branch: str, base: str, merged: str = ""
) -> dict[str, Any]:
    """GitHub's ``pull_request`` payload for a review just opened or, with ``merged`` (the
    merge commit), just merged and closed."""
    review: dict[str, Any] = {
        "head": {"ref": branch, "sha": head}, "base": {"ref": "main", "sha": base},
        "merged": bool(merged), "state": "closed" if merged else "open",
    }  # fmt: skip
    if merged:
        review["merge_commit_sha"] = merged
    action = "closed" if merged else "opened"
    return {"action": action, "number": number, "pull_request": review,
            "repository": _repository(name, url)}  # fmt: skip


def send_webhook(api_url: str, event: str, payload: dict[str, Any], *, secret: str) -> str:
    """Post ``payload`` to the engine as GitHub would, signed with ``secret``; returns the
    delivery id.

    Raises:
        GitHostFailed: the engine did not accept the delivery (anything but 202).
    """
    body = json.dumps(payload).encode()
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": github_signature(body, secret),
    }  # fmt: skip
    answer = httpx.post(f"{api_url}/webhooks/github", content=body, headers=headers, timeout=10)
    if answer.status_code != 202:
        raise GitHostFailed(
            f"the {event} webhook was answered {answer.status_code}: {answer.text[:300]}",
            hint="the engine refused the delivery; see docs/webhooks.md for the answers",
        )
    return delivery
