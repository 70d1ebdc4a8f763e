"""The outbox relay: publish unsent outbox events to NATS JetStream as CloudEvents, then mark
them sent. JetStream de-duplicates on ``Nats-Msg-Id`` (the event id), so an event published
twice (the engine died between publish and mark) is stored once.

``reconciler.wiring.engine`` runs a ``NatsRelay`` in a thread of its own when ``RXT_NATS_URL``
is set; ``relay_once`` is what each round does, and what the tests call.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import nats
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from core.errors import TransientError
from core.logs import get_logger
from reconciler.events import envelope
from state.outbox import Event, Outbox

log = get_logger()

DEFAULT_STREAM = "RXT_EVENTS"


@dataclass(frozen=True)
class RelaySettings:
    """Where to publish. ``prefix`` goes before every subject (``evt.>`` by default), so that
    several engines or tests can share one NATS server with streams that do not overlap."""

    url: str
    stream: str = DEFAULT_STREAM
    prefix: str = ""
    batch: int = 100
    interval: float = 1.0
    timeout: float = 5.0
    duplicate_window: float = 120.0

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}{event_type}"


class NatsRelay:
    """Relays one store's outbox to one JetStream stream."""

    def __init__(self, outbox: Outbox, settings: RelaySettings) -> None:
        self.outbox = outbox
        self.settings = settings
        self.published = 0
        self._nc: Any = None
        self._js: Any = None

    async def connect(self) -> None:
        """Connect and make sure the stream exists (subjects ``<prefix>evt.>``).

        Raises:
            TransientError: NATS cannot be reached.
        """
        s = self.settings
        try:
            self._nc = await nats.connect(
                s.url,
                connect_timeout=s.timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
            )
            self._js = self._nc.jetstream(timeout=s.timeout)
            try:
                await self._js.stream_info(s.stream)
            except NotFoundError:
                await self._js.add_stream(
                    name=s.stream,
                    subjects=[s.subject("evt.>")],
                    duplicate_window=s.duplicate_window,
                )
        except (NatsError, OSError, TimeoutError) as error:
            raise TransientError(
                f"NATS at {s.url} cannot be reached: {type(error).__name__}",
                hint="check RXT_NATS_URL and that the NATS server runs with JetStream (-js)",
            ) from error

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None

    async def relay_once(self) -> int:
        """Publish up to one batch of unsent events in order; returns how many were sent.

        An event is marked sent only after JetStream acknowledged it; a failure stops the
        round, and the rest is retried next round.
        """
        if self._js is None:
            await self.connect()
        rows = await asyncio.to_thread(self.outbox.unsent, limit=self.settings.batch)
        sent: list[int] = []
        try:
            for row in rows:
                await self._publish(row)
                sent.append(row.id)
        except (NatsError, OSError, TimeoutError) as error:
            log.warning("relay.failed", error=type(error).__name__, sent=len(sent))
        await asyncio.to_thread(self.outbox.mark_sent, sent)
        self.published += len(sent)
        return len(sent)

    async def _publish(self, row: Event) -> None:
        body = envelope(
            event_id=row.event_id,
            event_type=row.type,
            subject=row.subject,
            data=row.data,
            at=row.created_at,
        )
        await self._js.publish(
            self.settings.subject(row.type),
            body,
            timeout=self.settings.timeout,
            headers={"Nats-Msg-Id": row.event_id, "content-type": "application/cloudevents+json"},
        )

    async def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set, a round every ``interval`` seconds (sooner when busy)."""
        while not stop.is_set():
            try:
                busy = await self.relay_once() >= self.settings.batch
            except TransientError as error:
                log.warning("relay.unavailable", error=error.message)
                await self.close()
                busy = False
            if not busy:
                await asyncio.to_thread(stop.wait, self.settings.interval)
        await self.close()


def start_relay(relay: NatsRelay, stop: threading.Event) -> threading.Thread:
    """Run ``relay`` in a daemon thread with its own event loop until ``stop`` is set."""
    thread = threading.Thread(
        target=lambda: asyncio.run(relay.run(stop)), name="rxt-relay", daemon=True
    )
    thread.start()
    return thread
