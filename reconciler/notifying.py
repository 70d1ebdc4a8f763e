"""Notifications to chat webhooks (Slack-compatible JSON), sent once per environment, revision
and event, however many engines or checks see the same thing.

``reconciler.drifting`` and the reconcile workers call ``Notifier.notify``. The once-only
claim is recorded in the state store's webhook delivery table under provider ``notify``, so it
holds across restarts and across engines sharing one database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.logs import get_logger
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


@dataclass
class Notifier:
    """Posts messages to the configured webhook URLs."""

    catalog: Catalog
    urls: Sequence[str] = ()
    timeout: float = 5.0
    sent: list[str] = field(default_factory=list)

    def notify(self, *, environment: str, revision: str, event: str, message: Message) -> bool:
        """Send ``message`` unless this (environment, revision, event) was already notified.

        Returns True when this call sent it. A URL that fails is logged and not retried: a
        notification is advice, and the drift report itself stays in the store.
        """
        if not self.urls:
            return False
        key = _key(environment, revision, event)
        if not self.catalog.first_delivery(NOTIFY_PROVIDER, key, body_digest=key):
            log.info("notification.skipped", environment=environment, kind=event, why="sent")
            return False
        for url in self.urls:
            self._post(url, message)
        self.sent.append(key)
        return True

    def _post(self, url: str, message: Message) -> None:
        try:
            response = httpx.post(url, json=message.slack(), timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("notification.failed", error=type(error).__name__)
            return
        log.info("notification.sent", title=message.title)


def _key(environment: str, revision: str, event: str) -> str:
    # The delivery id column holds 128 characters; a digest keeps any key within it.
    text = f"{environment}@{revision}#{event}"
    return "n:" + hashlib.sha256(text.encode()).hexdigest()
