"""What one tenant may see and do through the API, every query scoped to its tenant id:
registrations, environments with their sync and drift status, plans, runs, drift reports, and
plan approvals recorded in the audit chain with the work they queue. ``rxt.api.tenants`` calls it.

An object of another tenant is simply not found, so callers answer 404 and never learn it exists.
A deleted registration keeps its rows, marked ``removed_at``: its environments' plans, runs,
drift reports and audit entries stay; only the registration's secret references are dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import StateError
from state.audit import AuditLog, AuditRecord
from state.database import Clock, Database, utc_now
from state.models import (
    AuditEntry,
    DriftReport,
    Environment,
    Plan,
    PlanApproval,
    Repository,
    RepositoryRegistration,
    Run,
)
from state.queue import add_item
from state.registrations import (
    Conflict,
    Refused,
    RegistrationChange,
    check_change,
    claim_environment,
    environments_of,
    registration_of,
    removed_repository,
    set_fields,
)
from state.tenant_views import (
    Page,
    approval_doc,
    audit_page,
    decode_cursor,
    drift_doc,
    encode_cursor,
    environment_doc,
    needs_approval,
    plan_doc,
    repository_doc,
    run_doc,
)

# Conflict, Refused and RegistrationChange live with the registration steps; the API takes
# them from here with the rest of the tenant API's store.
__all__ = ["Conflict", "FollowUp", "Refused", "Registration", "RegistrationChange", "Tenancy"]


@dataclass(frozen=True)
class Registration:
    """A repository and its environments as a tenant registers them; refs, never values."""

    url: str
    branch: str
    webhook_secret_ref: Mapping[str, Any]
    credentials_ref: Mapping[str, Any] | None = None
    notify_url: str | None = None
    environments: Mapping[str, str] = field(default_factory=dict)  # name -> folder in the repo
    forge: Mapping[str, Any] | None = None  # provider, apiUrl, tokenRef: the repository's own


@dataclass(frozen=True)
class FollowUp:
    """Work an approval queues for the approved plan's environment: a work item of ``kind``,
    keyed by ``key`` applied to the environment's name (the queue's keys belong to the engine),
    with ``payload`` and the plan's id."""

    kind: str
    key: Callable[[str], str]
    payload: Mapping[str, Any] = field(default_factory=dict)


class Tenancy:
    """The tenant API's reads and writes; ``tenant_id`` scopes every one of them."""

    def __init__(self, database: Database, *, audit: AuditLog, clock: Clock = utc_now) -> None:
        self.database = database
        self.audit = audit
        self.clock = clock

    # -- registration --------------------------------------------------------------------------

    def register(
        self, tenant_id: int, registration: Registration, *, tenant: str, actor: str
    ) -> dict[str, Any]:
        """Store a repository, its environments and its refs, audited in the same transaction.

        Raises:
            Conflict: the tenant already registered this URL or one of these environment names.
        """
        try:
            with self.database.write() as session:
                doc = self._register(session, tenant_id, registration, actor=actor)
                details: dict[str, Any] = {"environments": sorted(registration.environments)}
                if registration.forge is not None:  # references only, like the stored row
                    details["forge"] = dict(registration.forge)
                record = AuditRecord(
                    actor, "repository.registered", registration.url, details=details
                )
                self.audit.append_in(session, tenant, [record])
                return doc
        except IntegrityError as error:
            raise Conflict(
                f"repository {registration.url} or one of its environments is already registered",
                hint="list /api/v1/repositories and /api/v1/environments to find it",
            ) from error

    def _register(
        self, session: Session, tenant_id: int, reg: Registration, *, actor: str
    ) -> dict[str, Any]:
        now = self.clock()
        repo = removed_repository(session, tenant_id, reg.url)
        if repo is None:
            repo = Repository(tenant_id=tenant_id, url=reg.url, branch=reg.branch, created_at=now)
            session.add(repo)
        else:  # registered again after a deletion: the history continues on the same row
            repo.removed_at, repo.branch = None, reg.branch
        session.flush()
        session.add(
            RepositoryRegistration(
                repository_id=repo.id, webhook_secret_ref=dict(reg.webhook_secret_ref),
                credentials_ref=dict(reg.credentials_ref) if reg.credentials_ref else None,
                notify_url=reg.notify_url, environment_paths=dict(reg.environments),
                forge=dict(reg.forge) if reg.forge is not None else None,
                registered_by=actor, registered_at=now,
            )
        )  # fmt: skip
        for name in sorted(reg.environments):
            claim_environment(session, tenant_id, repo.id, name, now=now)
        session.flush()
        return repository_doc(session, repo)

    def update(
        self,
        tenant_id: int,
        repository_id: int,
        change: RegistrationChange,
        *,
        tenant: str,
        actor: str,
    ) -> dict[str, Any] | None:
        """Apply ``change`` to a registration, audited as ``repository.updated`` in the same
        transaction. ``None`` when the tenant has no such repository.

        Raises:
            Conflict: an added environment's name is already the tenant's.
            Refused: a removed environment is not in the repository, or none would be left.
        """
        try:
            with self.database.write() as session:
                repo = _owned_repository(session, tenant_id, repository_id)
                if repo is None:
                    return None
                details = self._change(session, repo, change)
                record = AuditRecord(actor, "repository.updated", repo.url, details=details)
                self.audit.append_in(session, tenant, [record])
                session.flush()
                return repository_doc(session, repo)
        except IntegrityError as error:
            names = ", ".join(sorted(change.add))
            raise Conflict(
                f"repository {repository_id}: environment {names} is already registered",
                hint="list /api/v1/environments to find it, or pick another name",
            ) from error

    def _change(
        self, session: Session, repo: Repository, change: RegistrationChange
    ) -> dict[str, Any]:
        reg = registration_of(session, repo)
        paths = {str(k): str(v) for k, v in (reg.environment_paths or {}).items()}
        check_change(repo, paths, change)
        fields = set_fields(repo, reg, change)
        now = self.clock()
        for name in sorted(change.remove):
            paths.pop(name)
            for row in session.scalars(environments_of(repo.id).where(Environment.name == name)):
                row.removed_at = now
        for name, folder in sorted(change.add.items()):
            paths[name] = folder
            claim_environment(session, repo.tenant_id, repo.id, name, now=now)
        reg.environment_paths = paths  # a new dict, so the JSON column is written
        return {"fields": fields, "branch": repo.branch,
                "added": sorted(change.add), "removed": sorted(change.remove)}  # fmt: skip

    def remove(
        self, tenant_id: int, repository_id: int, *, tenant: str, actor: str
    ) -> dict[str, Any] | None:
        """Delete a registration, audited as ``repository.deleted`` in the same transaction:
        its secret references are dropped, the repository and its environments are marked
        removed and their history stays. ``None`` when the tenant has no such repository."""
        with self.database.write() as session:
            repo = _owned_repository(session, tenant_id, repository_id)
            if repo is None:
                return None
            now = self.clock()
            environments = list(session.scalars(environments_of(repo.id)))
            for row in environments:
                row.removed_at = now
            repo.removed_at = now
            session.delete(registration_of(session, repo))
            names = [row.name for row in environments]
            record = AuditRecord(actor, "repository.deleted", repo.url,
                                 details={"environments": names})  # fmt: skip
            self.audit.append_in(session, tenant, [record])
            return {
                "id": repo.id, "url": repo.url, "removedAt": now.isoformat(),
                "environments": [{"id": row.id, "name": row.name} for row in environments],
            }  # fmt: skip

    def repositories(self, tenant_id: int) -> list[dict[str, Any]]:
        with self.database.read() as session:
            rows = session.scalars(
                select(Repository)
                .where(Repository.tenant_id == tenant_id, Repository.removed_at.is_(None))
                .order_by(Repository.id)
            )
            return [repository_doc(session, row) for row in rows]

    def repository(self, tenant_id: int, repository_id: int) -> dict[str, Any] | None:
        with self.database.read() as session:
            row = _owned_repository(session, tenant_id, repository_id)
            return None if row is None else repository_doc(session, row)

    # -- environments ----------------------------------------------------------------------------

    def environments(self, tenant_id: int) -> list[dict[str, Any]]:
        with self.database.read() as session:
            rows = session.scalars(
                select(Environment)
                .where(Environment.tenant_id == tenant_id, Environment.removed_at.is_(None))
                .order_by(Environment.name)
            )
            return [environment_doc(session, row) for row in rows]

    def environment(self, tenant_id: int, environment_id: int) -> dict[str, Any] | None:
        with self.database.read() as session:
            row = _owned_environment(session, tenant_id, environment_id)
            return None if row is None else environment_doc(session, row)

    def environment_name(self, tenant_id: int, environment_id: int) -> str | None:
        """The name of an environment work may be queued for.

        Raises:
            Conflict: it was removed from its registration.
        """
        with self.database.read() as session:
            row = _owned_environment(session, tenant_id, environment_id)
            if row is not None:
                _check_followed(row)
            return None if row is None else row.name

    # -- plans, runs, drift reports ------------------------------------------------------------

    def plans(
        self, tenant_id: int, environment_id: int, *, cursor: str = "", limit: int = 50
    ) -> Page | None:
        query = select(Plan).where(Plan.environment_id == environment_id)
        if cursor:
            at, plan_id = decode_cursor(cursor)
            stamp = dt.datetime.fromisoformat(str(at))
            query = query.where(
                (Plan.created_at < stamp) | ((Plan.created_at == stamp) & (Plan.id < str(plan_id)))
            )
        query = query.order_by(Plan.created_at.desc(), Plan.id.desc()).limit(limit + 1)
        with self.database.read() as session:
            if _owned_environment(session, tenant_id, environment_id) is None:
                return None
            rows = list(session.scalars(query))
            items = [plan_doc(session, row, body=False) for row in rows[:limit]]
            last = rows[limit - 1] if len(rows) > limit else None
            return Page(
                items, encode_cursor([last.created_at.isoformat(), last.id]) if last else ""
            )

    def plan(self, tenant_id: int, plan_id: str) -> dict[str, Any] | None:
        with self.database.read() as session:
            row = _owned_plan(session, tenant_id, plan_id)
            return None if row is None else plan_doc(session, row, body=True)

    def runs(
        self, tenant_id: int, environment_id: int, *, cursor: str = "", limit: int = 50
    ) -> Page | None:
        query = select(Run).where(Run.environment_id == environment_id)
        return self._by_id(tenant_id, environment_id, query, Run.id, run_doc, at=(cursor, limit))

    def run(self, tenant_id: int, run_id: int) -> dict[str, Any] | None:
        with self.database.read() as session:
            row = session.get(Run, run_id)
            if row is None or _owned_environment(session, tenant_id, row.environment_id) is None:
                return None
            return run_doc(row)

    def drift_reports(
        self, tenant_id: int, environment_id: int, *, cursor: str = "", limit: int = 50
    ) -> Page | None:
        query = select(DriftReport).where(DriftReport.environment_id == environment_id)
        return self._by_id(
            tenant_id, environment_id, query, DriftReport.id, drift_doc, at=(cursor, limit)
        )

    def drift_report(self, tenant_id: int, report_id: int) -> dict[str, Any] | None:
        with self.database.read() as session:
            row = session.get(DriftReport, report_id)
            if row is None or _owned_environment(session, tenant_id, row.environment_id) is None:
                return None
            return drift_doc(row)

    def _by_id(
        self,
        tenant_id: int,
        environment_id: int,
        query: Select[Any],
        column: Any,
        render: Callable[[Any], dict[str, Any]],
        *,
        at: tuple[str, int],
    ) -> Page | None:
        cursor, limit = at
        if cursor:
            query = query.where(column < int(decode_cursor(cursor)[0]))
        query = query.order_by(column.desc()).limit(limit + 1)
        with self.database.read() as session:
            if _owned_environment(session, tenant_id, environment_id) is None:
                return None
            rows = list(session.scalars(query))
            items = [render(row) for row in rows[:limit]]
            more = len(rows) > limit
            return Page(items, encode_cursor([rows[limit - 1].id]) if more else "")

    # -- approvals -----------------------------------------------------------------------------

    def approve(
        self,
        tenant_id: int,
        plan_id: str,
        *,
        tenant: str,
        actor: str,
        reason: str,
        follow_up: FollowUp | None = None,
    ) -> dict[str, Any] | None:
        """Record who approved a plan that needs approval and why, with its audit entry, and
        queue ``follow_up`` for the plan's environment, all in one transaction: an approval
        never stands without its work item, nor the item without the approval.

        Returns ``None`` when the tenant has no such plan; else the approval, with
        ``workItemId`` when work was queued.

        Raises:
            Conflict: the plan is a preview, needs no approval, or was approved already.
        """
        try:
            with self.database.write() as session:
                plan = _owned_plan(session, tenant_id, plan_id)
                if plan is None:
                    return None
                environment = session.get(Environment, plan.environment_id)
                if environment is not None:
                    _check_followed(environment)
                if plan.kind == "preview":
                    raise Conflict(
                        f"plan {plan_id} is a preview of commit {plan.commit[:12]}; a preview "
                        "is never applied",
                        hint="approve the plan the engine makes when the commit reaches the "
                        "branch; it is listed with the environment's plans as kind apply",
                    )
                if not needs_approval(plan.body):
                    raise Conflict(f"plan {plan_id} needs no approval", hint="nothing to do")
                row = PlanApproval(plan_id=plan_id, tenant_id=tenant_id, approved_by=actor,
                                   reason=reason, approved_at=self.clock())  # fmt: skip
                session.add(row)
                session.flush()
                record = AuditRecord(actor, "plan.approved", f"plan/{plan_id}", commit=plan.commit,
                                     plan_id=plan_id, details={"reason": reason})  # fmt: skip
                self.audit.append_in(session, tenant, [record])
                doc = approval_doc(row)
                if follow_up is not None:
                    doc["workItemId"] = self._follow(session, plan, follow_up)
                return doc
        except IntegrityError as error:
            raise Conflict(f"plan {plan_id} is already approved", hint="read the plan") from error

    def withdraw_approval(
        self, tenant_id: int, plan_id: str, *, tenant: str, actor: str, reason: str
    ) -> dict[str, Any] | None:
        """Withdraw a plan's approval, with its audit entry, in one transaction: from then on
        the changes it released are held again, and the plan can be approved anew.

        A reconcile already applying the released changes finishes; a queued one (the
        approval's own) releases nothing more. Returns ``None`` when the tenant has no such
        plan; else the approval withdrawn, with who withdrew it, when and why.

        Raises:
            Conflict: the plan has no approval.
        """
        with self.database.write() as session:
            plan = _owned_plan(session, tenant_id, plan_id)
            if plan is None:
                return None
            row = session.scalars(
                select(PlanApproval).where(PlanApproval.plan_id == plan_id)
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"plan {plan_id} has no approval to withdraw",
                    hint="read the plan: its approval is null; nothing is released by it",
                )
            now = self.clock()
            doc = {**approval_doc(row), "withdrawnBy": actor, "withdrawnAt": now.isoformat(),
                   "withdrawReason": reason}  # fmt: skip
            session.delete(row)
            record = AuditRecord(
                actor, "plan.approval_withdrawn", f"plan/{plan_id}", commit=plan.commit,
                plan_id=plan_id, details={"reason": reason, "approved_by": row.approved_by},
            )  # fmt: skip
            self.audit.append_in(session, tenant, [record])
            return doc

    def _follow(self, session: Session, plan: Plan, follow_up: FollowUp) -> int:
        environment = session.get(Environment, plan.environment_id)
        if environment is None:  # the plan's foreign key makes this impossible
            raise StateError(
                f"plan {plan.id} names environment {plan.environment_id}, which does not exist",
                hint="the database's foreign keys are off or were bypassed; check the store",
            )
        payload = {**follow_up.payload, "plan_id": plan.id}
        key = follow_up.key(environment.name)
        return add_item(session, follow_up.kind, key=key, payload=payload, now=self.clock())

    def audit_page(self, tenant: str, *, cursor: str = "", limit: int = 50) -> Page:
        """The tenant's audit chain, newest first."""
        query = select(AuditEntry).where(AuditEntry.tenant == tenant)
        if cursor:
            query = query.where(AuditEntry.seq < int(decode_cursor(cursor)[0]))
        query = query.order_by(AuditEntry.seq.desc()).limit(limit + 1)
        with self.database.read() as session:
            rows = list(session.scalars(query))
            return audit_page(rows, limit)


def _owned_environment(session: Session, tenant_id: int, environment_id: int) -> Environment | None:
    row = session.get(Environment, environment_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def _owned_plan(session: Session, tenant_id: int, plan_id: str) -> Plan | None:
    row = session.get(Plan, plan_id)
    if row is None or _owned_environment(session, tenant_id, row.environment_id) is None:
        return None
    return row


def _owned_repository(session: Session, tenant_id: int, repository_id: int) -> Repository | None:
    """The tenant's repository, unless it is another tenant's or its registration was deleted."""
    row = session.get(Repository, repository_id)
    if row is None or row.tenant_id != tenant_id or row.removed_at is not None:
        return None
    return row


def _check_followed(row: Environment) -> None:
    if row.removed_at is not None:
        raise Conflict(
            f"environment {row.name} was removed from its registration; nothing runs for it",
            hint="add it to a repository again (PATCH /api/v1/repositories/{id}) first",
        )
