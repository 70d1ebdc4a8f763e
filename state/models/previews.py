"""What pull request previews leave for the merge: each previewed plan, each merge a forge
announced, and the verdict reached when a merged commit was planned. ``state.previews`` reads
and writes these; ``reconciler.merging`` calls it.

Environments are named rather than referenced: a review may preview an environment the engine
has not reconciled yet, so it may have no ``environments`` row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, BigId, UtcDateTime


class PreviewedPlan(Base):
    """One preview of one environment at a review's head; the newest per review counts."""

    __tablename__ = "previewed_plans"
    __table_args__ = (
        Index(None, "tenant_id", "environment", "repository", "number"),
        Index(None, "tenant_id", "head_commit"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    environment: Mapped[str] = mapped_column(String(128))
    repository: Mapped[str] = mapped_column(String(512))
    number: Mapped[int] = mapped_column(Integer)
    head_commit: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(80))
    desired_digest: Mapped[str] = mapped_column(String(80))
    observed_fingerprint: Mapped[str] = mapped_column(String(80))
    policy_digest: Mapped[str] = mapped_column(String(80))
    comment_id: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ReviewMerge(Base):
    """A forge said review ``number`` was merged as ``merge_commit`` (the only link from a
    squash merge's commit back to its review)."""

    __tablename__ = "review_merges"
    __table_args__ = (UniqueConstraint("tenant_id", "merge_commit", "repository", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    repository: Mapped[str] = mapped_column(String(512))
    number: Mapped[int] = mapped_column(Integer)
    merge_commit: Mapped[str] = mapped_column(String(64))
    merged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class MergeVerdictRow(Base):
    """Whether the plan of a merged commit was the previewed one, decided once per environment
    and commit; ``held`` says its changes wait for a person's approval."""

    __tablename__ = "merge_verdicts"
    __table_args__ = (UniqueConstraint("tenant_id", "environment", "commit"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    environment: Mapped[str] = mapped_column(String(128))
    commit: Mapped[str] = mapped_column(String(64))
    matches: Mapped[bool] = mapped_column(Boolean)
    held: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    repository: Mapped[str] = mapped_column(String(512))
    number: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[str] = mapped_column(String(80))
    settled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
