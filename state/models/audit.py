"""The audit tables: one hash chain of entries per tenant, its head, and signed checkpoints.

Only ``state.audit`` and ``state.checkpoints`` write them; PostgreSQL refuses UPDATE and DELETE
on entries and checkpoints by trigger (see the migration).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, UtcDateTime


class AuditEntry(Base):
    """One entry of a tenant's chain; ``hash`` covers ``prev_hash`` and every other column."""

    __tablename__ = "audit_entries"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(128))
    object: Mapped[str] = mapped_column(String(1024))
    commit: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(64))
    # The exact canonical JSON that was hashed, kept as text so no byte can change unseen.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last sequence number and hash of a tenant's chain: the row appends lock and update.

    Verification compares it with the chain's end, which reveals a truncated chain unless
    the head was rewritten too (then only a checkpoint past the cut reveals it).
    """

    __tablename__ = "audit_heads"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AuditCheckpoint(Base):
    """A signed statement that a tenant's chain had ``hash`` at ``seq``."""

    __tablename__ = "audit_checkpoints"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
