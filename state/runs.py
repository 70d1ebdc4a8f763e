"""Runs and applied state, every write fenced by the environment's lease.

The reconciler records a run's progress and each resource it applied here; a write made with a
stale fencing token raises ``LeaseLost`` and changes nothing. ``reconciler.sweeping`` fails the
runs an engine left running when it died (``Runs.sweep_abandoned``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import StateError
from core.hashing import digest
from state.audit import AuditLog, AuditRecord
from state.database import Clock, Database, utc_now
from state.leases import Lease, check_fence, environment_lease_name
from state.models import AppliedResource, Environment, Run, RunStatus, Tenant
from state.models import Lease as LeaseRow

_FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
# The reconciler's audit actor; a sweep speaks for the engine that could no longer finish.
SWEEP_ACTOR = "rxt-engine"
_NEXT = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: _FINISHED,
}


@dataclass(frozen=True)
class RunView:
    """A run as callers see it."""

    id: int
    environment_id: int
    plan_id: str | None
    commit: str
    status: RunStatus
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None

    @classmethod
    def of(cls, row: Run) -> RunView:
        return cls(
            id=row.id,
            environment_id=row.environment_id,
            plan_id=row.plan_id,
            commit=row.commit,
            status=row.status,
            queued_at=row.queued_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
        )


@dataclass(frozen=True)
class AppliedView:
    """The last desired spec applied for one resource."""

    owner_key: str
    ref: str
    spec: Mapping[str, Any]
    spec_hash: str
    applied_at: dt.datetime


class Runs:
    """Queue, start and finish runs, and record applied resources, under a lease."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def queue(self, *, environment_id: int, commit: str, plan_id: str | None = None) -> RunView:
        """Record a queued run; queuing needs no lease, only running does."""
        with self.database.write() as session:
            row = Run(
                environment_id=environment_id,
                plan_id=plan_id,
                commit=commit,
                status=RunStatus.QUEUED,
                queued_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return RunView.of(row)

    def move(
        self, run_id: int, status: RunStatus, *, lease: Lease, error: str | None = None
    ) -> RunView:
        """Move a run to ``status`` (running, or a finished state) under ``lease``.

        Raises:
            LeaseLost: ``lease`` is no longer the current grant.
            StateError: the run does not exist or cannot move from where it is to ``status``.
        """
        now = self.clock()
        with self.database.write() as session:
            check_fence(session, lease, now=now)
            row = _run(session, run_id)
            if status not in _NEXT.get(row.status, frozenset()):
                raise StateError(
                    f"run {run_id} cannot move from {row.status.value} to {status.value}",
                    hint="a finished run stays finished; queue a new run instead",
                )
            row.status, row.fencing_token = status, lease.token
            if status is RunStatus.RUNNING:
                row.started_at = now
            else:
                row.finished_at, row.error = now, error
            return RunView.of(row)

    def record_applied(
        self,
        *,
        lease: Lease,
        environment_id: int,
        owner_key: str,
        ref: str,
        spec: Mapping[str, Any],
        run_id: int | None = None,
    ) -> AppliedView:
        """Remember ``spec`` as the last applied desired state of ``ref`` under ``owner_key``."""
        now = self.clock()
        with self.database.write() as session:
            check_fence(session, lease, now=now)
            row = session.scalars(
                select(AppliedResource).where(
                    AppliedResource.owner_key == owner_key, AppliedResource.ref == ref
                )
            ).one_or_none()
            if row is None:
                row = AppliedResource(environment_id=environment_id, owner_key=owner_key, ref=ref)
                session.add(row)
            elif row.fencing_token > lease.token:
                raise StateError(
                    f"applied state of {ref} was written under token {row.fencing_token}, "
                    f"newer than {lease.token}; the write was refused",
                    hint="another engine applied this resource later; plan again",
                )
            row.spec, row.spec_hash, row.run_id = dict(spec), digest(dict(spec)), run_id
            row.applied_at, row.fencing_token = now, lease.token
            return _applied(row)

    def applied(self, environment_id: int) -> list[AppliedView]:
        """Everything last applied in one environment, ordered by owner key and reference."""
        with self.database.read() as session:
            rows = session.scalars(
                select(AppliedResource)
                .where(AppliedResource.environment_id == environment_id)
                .order_by(AppliedResource.owner_key, AppliedResource.ref)
            )
            return [_applied(row) for row in rows]

    def sweep_abandoned(
        self, now: dt.datetime | None = None, *, audit: AuditLog, actor: str = SWEEP_ACTOR
    ) -> list[RunView]:
        """Fail every running run whose engine can no longer finish it, and return those runs.

        A run is abandoned when its environment's lease no longer carries the run's fencing
        token for a live holder: a newer grant took over, the holder released it, or it expired.
        Any of these means the engine that started the run can never write to it again
        (``check_fence`` refuses it), so the run would otherwise show as running forever. A
        run whose grant is still current is left alone, however old it is. Each run is failed
        in its own transaction together with an audit entry on its tenant's chain; a second
        sweep finds nothing more to do.
        """
        at = now or self.clock()
        swept = []
        for run_id, tenant, environment in self._running():
            view = self._sweep(
                run_id, tenant=tenant, environment=environment, now=at, audit=audit, actor=actor
            )
            if view is not None:
                swept.append(view)
        return swept

    def _running(self) -> list[tuple[int, str, str]]:
        query = (
            select(Run.id, Tenant.name, Environment.name)
            .join(Environment, Run.environment_id == Environment.id)
            .join(Tenant, Environment.tenant_id == Tenant.id)
            .where(Run.status == RunStatus.RUNNING)
            .order_by(Run.id)
        )
        with self.database.read() as session:
            return [(run_id, tenant, env) for run_id, tenant, env in session.execute(query)]

    def _sweep(
        self,
        run_id: int,
        *,
        tenant: str,
        environment: str,
        now: dt.datetime,
        audit: AuditLog,
        actor: str,
    ) -> RunView | None:
        name = environment_lease_name(tenant, environment)
        with self.database.write() as session:
            # Lease row first, then the run, then the chain: the order the reconciler's own
            # fenced writes lock in, so a sweep and a finishing engine cannot deadlock.
            lease = session.scalars(
                select(LeaseRow).where(LeaseRow.name == name).with_for_update()
            ).one_or_none()
            row = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).one()
            lost = _why_lost(lease, token=row.fencing_token, now=now)
            if row.status is not RunStatus.RUNNING or lost is None:
                return None
            row.status, row.finished_at = RunStatus.FAILED, now
            row.error = (
                f"abandoned: the engine holding lease {name!r} (token {row.fencing_token}) "
                f"stopped before finishing; {lost}"
            )
            record = AuditRecord(
                actor=actor,
                action="run.abandoned",
                object=f"{tenant}/{environment}",
                commit=row.commit,
                plan_id=row.plan_id or "",
                details={"run_id": row.id, "lease": name, "token": row.fencing_token, "why": lost},
            )
            audit.append_in(session, tenant, [record])
            return RunView.of(row)

    def get(self, run_id: int) -> RunView:
        """One run; raises ``StateError`` when there is none."""
        with self.database.read() as session:
            return RunView.of(_run(session, run_id))


def _run(session: Session, run_id: int) -> Run:
    row = session.get(Run, run_id)
    if row is None:
        raise StateError(f"run {run_id} does not exist", hint="list runs to find the right id")
    return row


def _why_lost(lease: LeaseRow | None, *, token: int | None, now: dt.datetime) -> str | None:
    """Why the grant ``token`` of this lease is gone, or ``None`` while it is still held."""
    if lease is None:
        return "the lease no longer exists"
    if lease.token != token:
        return f"a newer grant (token {lease.token}) replaced it"
    if lease.holder is None:
        return "the lease was released"
    if lease.expires_at <= now:
        return f"the lease expired at {lease.expires_at.isoformat()}"
    return None


def _applied(row: AppliedResource) -> AppliedView:
    return AppliedView(row.owner_key, row.ref, row.spec, row.spec_hash, row.applied_at)
