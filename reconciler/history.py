"""Reads of the state store the loop needs beyond its own API: the last applied commit, the
latest drift report, pending work of an environment, recent approvals and applies, and an
applied reference decoded.

Called by ``reconciler.drifting``, ``reconciler.scheduling``, ``reconciler.approvals`` and
``rxt drift``. These are plain reads of state tables; ``state`` could own them later (see
docs/reconciler.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from core.resources import Platform, ResourceRef
from state.database import Database
from state.models import (
    AuditEntry,
    DriftReport,
    DriftStatus,
    Environment,
    Plan,
    PlanApproval,
    Run,
    RunStatus,
    Tenant,
    WorkItem,
    WorkStatus,
)


@dataclass(frozen=True)
class DriftView:
    """One stored drift report."""

    id: int
    status: DriftStatus
    checked_at: dt.datetime
    diffs: list[dict[str, Any]]
    error: str | None


def last_applied_commit(database: Database, environment_id: int) -> str | None:
    """The commit of the environment's newest run that started applying, if any."""
    with database.read() as session:
        return session.scalars(
            select(Run.commit)
            .where(Run.environment_id == environment_id, Run.status != RunStatus.QUEUED)
            .order_by(Run.id.desc())
            .limit(1)
        ).first()


def environment_id(database: Database, tenant: str, name: str) -> int | None:
    """The id of a registered environment, without registering it."""
    with database.read() as session:
        return session.scalars(
            select(Environment.id)
            .join(Tenant, Tenant.id == Environment.tenant_id)
            .where(Tenant.name == tenant, Environment.name == name)
        ).first()


def latest_drift(database: Database, environment_id: int) -> DriftView | None:
    """The newest drift report of an environment."""
    with database.read() as session:
        row = session.scalars(
            select(DriftReport)
            .where(DriftReport.environment_id == environment_id)
            .order_by(DriftReport.checked_at.desc(), DriftReport.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return DriftView(row.id, row.status, row.checked_at, list(row.diffs), row.error)


def pending(database: Database, *, kind: str, key: str) -> int:
    """How many items of ``kind`` for ``key`` are waiting or being worked on."""
    waiting = WorkItem.status.in_([WorkStatus.READY, WorkStatus.CLAIMED])
    with database.read() as session:
        count = session.scalar(
            select(func.count())
            .select_from(WorkItem)
            .where(waiting, WorkItem.kind == kind, WorkItem.key == key)
        )
        return int(count or 0)


@dataclass(frozen=True)
class ApprovalView:
    """One approval through the tenant API and the body of the plan it approved."""

    approved_by: str
    approved_at: dt.datetime
    body: dict[str, Any]


def approvals_since(
    database: Database, *, environment_id: int, since: dt.datetime
) -> list[ApprovalView]:
    """Approvals of the environment's plans given at or after ``since``, oldest first.

    Only approvals recorded under the environment's own tenant count, even though the API
    already refuses another tenant's plan: a row written any other way releases nothing.
    """
    query = (
        select(PlanApproval.approved_by, PlanApproval.approved_at, Plan.body)
        .join(Plan, Plan.id == PlanApproval.plan_id)
        .join(Environment, Environment.id == Plan.environment_id)
        .where(
            Plan.environment_id == environment_id,
            PlanApproval.tenant_id == Environment.tenant_id,
            PlanApproval.approved_at >= since,
        )
        .order_by(PlanApproval.approved_at, PlanApproval.id)
    )
    with database.read() as session:
        return [ApprovalView(row[0], row[1], dict(row[2])) for row in session.execute(query)]


def applied_since(
    database: Database, *, environment_id: int, since: dt.datetime, addresses: set[str]
) -> dict[str, dt.datetime]:
    """When each of ``addresses`` was last applied in the environment at or after ``since``,
    read from the ``resource.applied`` audit entries of the environment's plans."""
    if not addresses:
        return {}
    query = (
        select(AuditEntry.object, func.max(AuditEntry.at))
        .join(Plan, Plan.id == AuditEntry.plan_id)
        .where(
            Plan.environment_id == environment_id,
            AuditEntry.action == "resource.applied",
            AuditEntry.object.in_(sorted(addresses)),
            AuditEntry.at >= since,
        )
        .group_by(AuditEntry.object)
    )
    with database.read() as session:
        return {str(row[0]): _aware(row[1]) for row in session.execute(query)}


def _aware(value: dt.datetime | str) -> dt.datetime:
    # An aggregate over a UTC column comes back naive (or as text) on SQLite.
    stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def queue_depth(database: Database) -> int:
    """How many items wait in the queue (ready or claimed)."""
    waiting = WorkItem.status.in_([WorkStatus.READY, WorkStatus.CLAIMED])
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(WorkItem).where(waiting)) or 0)


def decode_ref(text: str) -> ResourceRef:
    """Read ``str(ResourceRef)`` back: ``platform:kind/name`` or ``platform:kind/scope/name``.

    Names never hold a slash; a scope (a vSphere folder path) may.

    Raises:
        ValueError: the text is not in that form.
    """
    platform, _, rest = text.partition(":")
    kind, _, path = rest.partition("/")
    if not kind or not path:
        raise ValueError(f"not a resource reference: {text!r}")
    scope, _, name = path.rpartition("/")
    return ResourceRef(Platform(platform), kind, name, scope)


def plan_basis(database: Database, plan_id: str) -> tuple[str, str] | None:
    """The commit and observed-state fingerprint a stored plan was made on."""
    with database.read() as session:
        row = session.execute(
            select(Plan.commit, Plan.fingerprint).where(Plan.id == plan_id.rpartition(":")[2])
        ).first()
        return (row[0], row[1]) if row else None
