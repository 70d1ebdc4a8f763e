"""What the engine deploys and remembers: tenants, repositories, environments, revisions, plans,
runs, applied resources and drift reports. The store modules in ``state/`` read and write these.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, BigId, JsonDocument, UtcDateTime


def _values(kind: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in kind]


def _status(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as checked text rather than a native enum so SQLite and PostgreSQL agree.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        length=16,
        values_callable=_values,
        create_constraint=True,
    )


class RunStatus(enum.StrEnum):
    """Where a run is: queued → running → succeeded, failed or cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DriftStatus(enum.StrEnum):
    """The verdict of one drift check of an environment."""

    OK = "ok"
    DRIFTED = "drifted"
    ERROR = "error"
    NEVER_RUN = "never_run"
    DISABLED = "disabled"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = (UniqueConstraint("tenant_id", "url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(1024))
    branch: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set when its registration is deleted; the row stays so its environments' history does.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set when removed from its registration; plans, runs and drift reports stay readable.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Revision(Base):
    """A commit of an environment's repository that the engine has seen."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("environment_id", "commit"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    commit: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Plan(Base):
    """A computed plan, its JSON, its hash and the observed-state fingerprint it was made on."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"), index=True)
    commit: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    plan_hash: Mapped[str] = mapped_column(String(80))
    fingerprint: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Run(Base):
    """One apply of a plan; its writes carry the fencing token of the lease it ran under."""

    __tablename__ = "runs"
    __table_args__ = (Index(None, "environment_id", "queued_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    commit: Mapped[str] = mapped_column(String(64))
    status: Mapped[RunStatus] = mapped_column(_status(RunStatus, "run_status"))
    queued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    fencing_token: Mapped[int | None] = mapped_column(BigInteger)


class AppliedResource(Base):
    """The last desired spec applied for one resource of one owner key, and its hash."""

    __tablename__ = "applied_resources"
    __table_args__ = (UniqueConstraint("owner_key", "ref"), Index(None, "environment_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    owner_key: Mapped[str] = mapped_column(String(512))
    ref: Mapped[str] = mapped_column(String(1024))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    spec_hash: Mapped[str] = mapped_column(String(80))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    applied_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    fencing_token: Mapped[int] = mapped_column(BigInteger)


class DriftReport(Base):
    """One drift check of an environment: its verdict and the per-field diffs it found."""

    __tablename__ = "drift_reports"
    __table_args__ = (Index(None, "environment_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    status: Mapped[DriftStatus] = mapped_column(_status(DriftStatus, "drift_status"))
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    diffs: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    error: Mapped[str | None] = mapped_column(Text)
