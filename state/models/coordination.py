"""How engines coordinate: webhook deliveries seen, the outbox, the work queue and leases.

``state.queue``, ``state.leases`` and ``state.outbox`` read and write these tables.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Enum, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, BigId, JsonDocument, UtcDateTime


class WorkStatus(enum.StrEnum):
    """Where a work item is: ready (perhaps later), claimed by a worker, done or failed for good."""

    READY = "ready"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


class WebhookDelivery(Base):
    """A webhook delivery already acted on, so a replayed delivery id is ignored."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("provider", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    body_digest: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OutboxEvent(Base):
    """An event written in the same transaction as the change it reports; relayed later."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index(None, "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(512))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class WorkItem(Base):
    """One unit of work (reconcile an environment at a commit, check drift, ...)."""

    __tablename__ = "work_items"
    __table_args__ = (Index(None, "status", "run_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[WorkStatus] = mapped_column(
        Enum(
            WorkStatus,
            name="work_status",
            native_enum=False,
            length=16,
            values_callable=lambda kind: [member.value for member in kind],
            create_constraint=True,
        )
    )
    run_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Lease(Base):
    """Who may apply to one environment, until when, and the fencing token of that grant.

    Rows are never deleted: the token must keep growing across releases and takeovers.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
