"""The transactional outbox: events written in the same transaction as the change they report.

Store modules and the reconciler call ``add_event`` inside their write; a relay (to NATS, when
configured) reads ``unsent`` and calls ``mark_sent``. Consumers de-duplicate on ``event_id``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.logs import redact
from state.database import Clock, Database, utc_now
from state.models import OutboxEvent


@dataclass(frozen=True)
class Event:
    """An event waiting to be relayed, in the shape of a CloudEvent's core attributes."""

    id: int
    event_id: str
    type: str
    subject: str
    data: Mapping[str, Any]
    created_at: dt.datetime


def add_event(
    session: Session,
    event_type: str,
    *,
    subject: str,
    data: Mapping[str, Any],
    now: dt.datetime,
) -> str:
    """Stage an event in the caller's write transaction; returns its id. Secrets are redacted."""
    event_id = str(uuid.uuid4())
    session.add(
        OutboxEvent(
            event_id=event_id,
            type=event_type,
            subject=subject,
            data=redact(dict(data)),
            created_at=now,
        )
    )
    return event_id


class Outbox:
    """Read and acknowledge staged events."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def publish(self, event_type: str, *, subject: str, data: Mapping[str, Any]) -> str:
        """Stage an event in a transaction of its own (when there is no other change)."""
        with self.database.write() as session:
            return add_event(session, event_type, subject=subject, data=data, now=self.clock())

    def unsent(self, *, limit: int = 100) -> list[Event]:
        """The oldest events not yet relayed."""
        query = (
            select(OutboxEvent)
            .where(OutboxEvent.sent_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        with self.database.read() as session:
            return [
                Event(row.id, row.event_id, row.type, row.subject, row.data, row.created_at)
                for row in session.scalars(query)
            ]

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Record that the relay delivered these events."""
        if not ids:
            return
        with self.database.write() as session:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(sent_at=self.clock())
            )
