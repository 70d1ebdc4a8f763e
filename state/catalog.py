"""Tenants, repositories, environments, revisions, plans, drift reports and webhook deliveries.

The reconciler and the HTTP API register what they see here; each call is one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from state.database import Clock, Database, utc_now
from state.models import (
    DriftReport,
    DriftStatus,
    Environment,
    Plan,
    Repository,
    Revision,
    Tenant,
    WebhookDelivery,
)


@dataclass(frozen=True)
class PlanView:
    """A stored plan as callers see it."""

    id: str
    environment_id: int
    commit: str
    kind: str
    body: Mapping[str, Any]
    plan_hash: str
    fingerprint: str
    created_at: dt.datetime


class Catalog:
    """The things the engine knows about, registered idempotently."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def environment(
        self, tenant: str, name: str, *, repository: str = "", branch: str = "main"
    ) -> int:
        """The id of ``tenant``'s environment ``name``, registering both (and the repository)."""
        with self.database.write() as session:
            tenant_row = self._tenant(session, tenant)
            repository_id = self._repository(session, tenant_row.id, repository, branch)
            row = session.scalars(
                select(Environment).where(
                    Environment.tenant_id == tenant_row.id, Environment.name == name
                )
            ).one_or_none()
            if row is None:
                row = Environment(
                    tenant_id=tenant_row.id,
                    repository_id=repository_id,
                    name=name,
                    created_at=self.clock(),
                )
                session.add(row)
                session.flush()
            return row.id

    def saw_revision(self, environment_id: int, commit: str) -> bool:
        """Record a commit of an environment; ``False`` when it was already recorded."""
        with self.database.write() as session:
            exists = session.scalars(
                select(Revision.id).where(
                    Revision.environment_id == environment_id, Revision.commit == commit
                )
            ).first()
            if exists is not None:
                return False
            session.add(
                Revision(environment_id=environment_id, commit=commit, seen_at=self.clock())
            )
            return True

    def save_plan(
        self,
        plan_id: str,
        *,
        environment_id: int,
        commit: str,
        kind: str,
        body: Mapping[str, Any],
        plan_hash: str,
        fingerprint: str,
    ) -> None:
        """Store a computed plan with its hash and the observed-state fingerprint."""
        with self.database.write() as session:
            session.add(
                Plan(
                    id=plan_id,
                    environment_id=environment_id,
                    commit=commit,
                    kind=kind,
                    body=dict(body),
                    plan_hash=plan_hash,
                    fingerprint=fingerprint,
                    created_at=self.clock(),
                )
            )

    def plan(self, plan_id: str) -> PlanView | None:
        """A stored plan, or ``None``."""
        with self.database.read() as session:
            row = session.get(Plan, plan_id)
            if row is None:
                return None
            return PlanView(
                id=row.id,
                environment_id=row.environment_id,
                commit=row.commit,
                kind=row.kind,
                body=row.body,
                plan_hash=row.plan_hash,
                fingerprint=row.fingerprint,
                created_at=row.created_at,
            )

    def report_drift(
        self,
        environment_id: int,
        status: DriftStatus,
        *,
        diffs: Sequence[Mapping[str, Any]] = (),
        error: str | None = None,
    ) -> int:
        """Store one drift check's verdict and per-field diffs; returns the report id."""
        with self.database.write() as session:
            row = DriftReport(
                environment_id=environment_id,
                status=status,
                checked_at=self.clock(),
                diffs=[dict(diff) for diff in diffs],
                error=error,
            )
            session.add(row)
            session.flush()
            return row.id

    def latest_drift(self, environment_id: int) -> DriftStatus:
        """The newest drift verdict of an environment, or ``never_run``."""
        with self.database.read() as session:
            status = session.scalars(
                select(DriftReport.status)
                .where(DriftReport.environment_id == environment_id)
                .order_by(DriftReport.checked_at.desc(), DriftReport.id.desc())
                .limit(1)
            ).first()
            return status or DriftStatus.NEVER_RUN

    def first_delivery(self, provider: str, delivery_id: str, *, body_digest: str) -> bool:
        """Record a webhook delivery; ``False`` when this id was seen before (a replay)."""
        try:
            with self.database.write() as session:
                session.add(
                    WebhookDelivery(
                        provider=provider,
                        delivery_id=delivery_id,
                        body_digest=body_digest,
                        received_at=self.clock(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _tenant(self, session: Session, name: str) -> Tenant:
        row = session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()
        if row is None:
            row = Tenant(name=name, created_at=self.clock())
            session.add(row)
            session.flush()
        return row

    def _repository(self, session: Session, tenant_id: int, url: str, branch: str) -> int | None:
        if not url:
            return None
        row = session.scalars(
            select(Repository).where(Repository.tenant_id == tenant_id, Repository.url == url)
        ).one_or_none()
        if row is None:
            row = Repository(tenant_id=tenant_id, url=url, branch=branch, created_at=self.clock())
            session.add(row)
            session.flush()
        return row.id
