"""Notifications to chat webhooks (Slack-compatible JSON), sent once per environment, revision
and event, however many engines or checks see the same thing.

``reconciler.drifting`` and the reconcile workers call ``Notifier.notify``. The once-only
claim is recorded in the state store's webhook delivery table under provider ``notify``, so it
holds across restarts and across engines sharing one database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.errors import RxtError
from core.hashing import digest
from core.logs import get_logger
from reconciler.reconciling import Result
from reconciler.recording import stored_plan_id
from state.catalog import Catalog

log = get_logger()

NOTIFY_PROVIDER = "notify"


@dataclass(frozen=True)
class Message:
    """What a notification says: a one-line summary and detail lines."""

    title: str
    lines: Sequence[str] = ()

    def slack(self) -> dict[str, Any]:
        """Slack's incoming-webhook body: ``text`` for every client, blocks for rich ones."""
        body = "\n".join(self.lines[:40])
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{self.title}*"}}
        ]
        if body:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}})
        return {"text": self.title, "blocks": blocks}


UrlCheck = Callable[[str], object]
"""Raises ``RxtError`` for a URL that may not be reached (``rxt.api.urls.UrlPolicy.check``)."""

Guarded = Callable[[], httpx.BaseTransport]
"""A new transport that connects only to addresses the URL rules accept, each name resolved
once (``rxt.api.urls.GuardedTransport``); for traffic to URLs a tenant registered."""


@dataclass
class Notifier:
    """Posts messages to the configured webhook URLs, and to the URLs a tenant registered for
    its own environments (``routes``, by ``tenant/environment``)."""

    catalog: Catalog
    urls: Sequence[str] = ()
    timeout: float = 5.0
    sent: list[str] = field(default_factory=list)
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    check: UrlCheck | None = None
    """Checked again before each post to a registered URL: its name may resolve elsewhere now."""
    guarded: Guarded | None = None
    """Posts to registered URLs go through it, so they reach only the addresses checked."""

    def route(self, environment: str, urls: Sequence[str]) -> None:
        """Also send ``environment``'s messages to ``urls`` (a tenant's registered ones)."""
        self.routes[environment] = tuple(urls)

    def notify(self, *, environment: str, revision: str, event: str, message: Message) -> bool:
        """Send ``message`` unless this (environment, revision, event) was already notified.

        Returns True when this call sent it. A URL that fails is logged and not retried: a
        notification is advice, and the drift report itself stays in the store.
        """
        registered = self.routes.get(environment, ())
        if not self.urls and not registered:
            return False
        key = _key(environment, revision, event)
        if not self.catalog.first_delivery(NOTIFY_PROVIDER, key, body_digest=key):
            log.info("notification.skipped", environment=environment, kind=event, why="sent")
            return False
        for url in self.urls:
            self._post(url, message)
        for url in registered:
            if self._reachable(url, environment=environment):
                self._post(url, message, guarded=self.guarded)
        self.sent.append(key)
        return True

    def _reachable(self, url: str, *, environment: str) -> bool:
        if self.check is None:
            return True
        try:
            self.check(url)
        except RxtError as error:
            log.warning("notification.refused", environment=environment, error=error.message)
            return False
        return True

    def _post(self, url: str, message: Message, *, guarded: Guarded | None = None) -> None:
        transport = guarded() if guarded is not None else None
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as client:
                client.post(url, json=message.slack()).raise_for_status()
        except httpx.HTTPError as error:
            log.warning("notification.failed", error=type(error).__name__)
            return
        except RxtError as error:  # the name resolved to a refused address at connection time
            log.warning("notification.refused", error=error.message)
            return
        log.info("notification.sent", title=message.title)


def outcome_message(name: str, commit: str, result: Result) -> tuple[str, Message] | None:
    """The notification a reconcile outcome deserves, with its event name, or None: a failed
    change, a policy denial, rejected manifests, or changes waiting for a person's approval.

    The event carries a digest of what went wrong (or of what is held), so a retry ending the
    same way is not news, and a different failure on the same commit is.
    """
    where = f"{name} at {commit[:12]}"
    if result.status in ("failed", "denied", "invalid"):
        title = {
            "failed": f"Apply failed in {where}",
            "denied": f"Policy denied the plan of {where}",
            "invalid": f"Manifests rejected in {where}",
        }[result.status]
        lines = list(result.failed) or result.error.splitlines()
        return f"reconcile.{result.status}:{digest(lines)[:24]}", Message(title, lines)
    if not result.held:
        return None
    # The plan id changes as other changes are applied; the held changes are the news.
    plan = stored_plan_id(result.plan_id)
    message = Message(
        f"{len(result.held)} change(s) in {where} wait for approval",
        [*result.held, f"to apply them, approve: POST /api/v1/plans/{plan}/approvals"],
    )
    return f"reconcile.held:{digest(sorted(result.held))[:24]}", message


def _key(environment: str, revision: str, event: str) -> str:
    # The delivery id column holds 128 characters; a digest keeps any key within it.
    text = f"{environment}@{revision}#{event}"
    return "n:" + hashlib.sha256(text.encode()).hexdigest()
