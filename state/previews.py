"""The preview ledger in the state store: previewed plans, merges the forges announced, and the
verdict on each merged commit's plan. ``reconciler.merging`` adapts it to the previews' ledger
and settles merges with it; every call names its tenant and sees only that tenant's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Result, Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from state.database import Clock, Database, utc_now
from state.models import MergeVerdictRow, PreviewedPlan, ReviewMerge, Tenant


@dataclass(frozen=True)
class StoredPreview:
    """One environment's preview at a review's head, and the comment it got."""

    tenant: str
    environment: str
    repository: str
    number: int
    head_commit: str
    plan_id: str
    desired_digest: str
    observed_fingerprint: str
    policy_digest: str
    comment_id: int = 0
    recorded_at: dt.datetime | None = None


@dataclass(frozen=True)
class StoredMerge:
    """A review the forge reported merged as ``merge_commit``."""

    repository: str
    number: int
    merge_commit: str


@dataclass(frozen=True)
class StoredVerdict:
    """Whether the plan of ``commit`` was the previewed one; ``held`` when its changes wait for
    an approval of the plan that was made instead."""

    tenant: str
    environment: str
    commit: str
    matches: bool
    held: bool
    reason: str
    repository: str
    number: int
    plan_id: str


@dataclass(frozen=True)
class Pruned:
    """How many rows of each kind ``PreviewStore.prune`` deleted."""

    previews: int = 0
    merges: int = 0
    verdicts: int = 0


class PreviewStore:
    """Reads and writes of the preview ledger; each call is one transaction."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def record(self, preview: StoredPreview) -> None:
        """Keep a preview; earlier previews of the same review stay, the newest counts."""
        with self.database.write() as session:
            session.add(
                PreviewedPlan(
                    tenant_id=self._tenant_id(session, preview.tenant),
                    environment=preview.environment, repository=preview.repository,
                    number=preview.number, head_commit=preview.head_commit,
                    plan_id=preview.plan_id, desired_digest=preview.desired_digest,
                    observed_fingerprint=preview.observed_fingerprint,
                    policy_digest=preview.policy_digest, comment_id=preview.comment_id,
                    recorded_at=preview.recorded_at or self.clock(),
                )
            )  # fmt: skip

    def latest(
        self, tenant: str, environment: str, *, repository: str, number: int
    ) -> StoredPreview | None:
        """The newest preview of ``environment`` on review ``number`` of ``repository``."""
        query = (
            _previews(tenant)
            .where(PreviewedPlan.environment == environment)
            .where(PreviewedPlan.repository == repository, PreviewedPlan.number == number)
        )
        found = self._read(query, limit=1)
        return found[0] if found else None

    def with_heads(
        self, tenant: str, environment: str, commits: Sequence[str]
    ) -> list[StoredPreview]:
        """Previews of ``environment`` whose head commit is one of ``commits``, newest first."""
        if not commits:
            return []
        query = (
            _previews(tenant)
            .where(PreviewedPlan.environment == environment)
            .where(PreviewedPlan.head_commit.in_(list(commits)))
        )
        return self._read(query, limit=100)

    def record_merge(self, tenant: str, *, repository: str, number: int, merge_commit: str) -> None:
        """Remember that review ``number`` was merged as ``merge_commit``; a redelivered event
        changes nothing."""
        try:
            with self.database.write() as session:
                tenant_id = self._tenant_id(session, tenant)
                if _merge_row(session, tenant_id, repository, number, merge_commit) is None:
                    session.add(
                        ReviewMerge(
                            tenant_id=tenant_id, repository=repository, number=number,
                            merge_commit=merge_commit, merged_at=self.clock(),
                        )
                    )  # fmt: skip
        except IntegrityError:
            return  # another replica recorded the same event first

    def merges_into(self, tenant: str, commit: str) -> list[StoredMerge]:
        """The reviews the forge reported merged as ``commit``, newest first."""
        query = (
            select(ReviewMerge.repository, ReviewMerge.number, ReviewMerge.merge_commit)
            .join(Tenant, Tenant.id == ReviewMerge.tenant_id)
            .where(Tenant.name == tenant, ReviewMerge.merge_commit == commit)
            .order_by(ReviewMerge.id.desc())
        )
        with self.database.read() as session:
            return [StoredMerge(*row) for row in session.execute(query)]

    def record_verdict(self, verdict: StoredVerdict) -> StoredVerdict:
        """Keep the verdict on ``verdict.commit``; the first one recorded for an environment
        and commit stands, and is returned."""
        try:
            with self.database.write() as session:
                tenant_id = self._tenant_id(session, verdict.tenant)
                if _verdict_row(session, tenant_id, verdict.environment, verdict.commit) is None:
                    session.add(_verdict_of(verdict, tenant_id=tenant_id, now=self.clock()))
        except IntegrityError:
            pass  # settled concurrently; the stored verdict wins
        stored = self.verdict(verdict.tenant, verdict.environment, verdict.commit)
        return stored or verdict

    def verdict(self, tenant: str, environment: str, commit: str) -> StoredVerdict | None:
        """The verdict on ``commit`` for ``environment``, or None when it was never settled."""
        query = (
            select(MergeVerdictRow)
            .join(Tenant, Tenant.id == MergeVerdictRow.tenant_id)
            .where(Tenant.name == tenant, MergeVerdictRow.environment == environment)
            .where(MergeVerdictRow.commit == commit)
        )
        with self.database.read() as session:
            row = session.scalars(query).first()
            if row is None:
                return None
            return StoredVerdict(
                tenant, row.environment, row.commit, matches=row.matches, held=row.held,
                reason=row.reason, repository=row.repository, number=row.number,
                plan_id=row.plan_id,
            )  # fmt: skip

    def prune(self, *, before: dt.datetime) -> Pruned:
        """Delete, in one transaction, the previews recorded, the merges announced and the
        verdicts settled before ``before``, of every tenant; a verdict that holds its commit's
        changes is kept whatever its age, since deleting it would release them.

        What goes is only what a merge long ago needed: a review merged after its preview was
        pruned is planned again and, with ``on_stale_merge: hold``, held (see docs/previews.md).
        """
        with self.database.write() as session:
            previews = session.execute(
                delete(PreviewedPlan).where(PreviewedPlan.recorded_at < before)
            )
            merges = session.execute(delete(ReviewMerge).where(ReviewMerge.merged_at < before))
            verdicts = session.execute(
                delete(MergeVerdictRow).where(
                    MergeVerdictRow.settled_at < before, MergeVerdictRow.held.is_(False)
                )
            )
            return Pruned(_count(previews), _count(merges), _count(verdicts))

    def _read(self, query: Select[str, PreviewedPlan], *, limit: int) -> list[StoredPreview]:
        ordered = query.order_by(PreviewedPlan.id.desc()).limit(limit)
        with self.database.read() as session:
            return [_preview_of(tenant, row) for tenant, row in session.execute(ordered)]

    def _tenant_id(self, session: Session, name: str) -> int:
        found = session.scalar(select(Tenant.id).where(Tenant.name == name))
        if found is not None:
            return found
        row = Tenant(name=name, created_at=self.clock())
        session.add(row)
        session.flush()
        return row.id


def _count(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _previews(tenant: str) -> Select[str, PreviewedPlan]:
    return (
        select(Tenant.name, PreviewedPlan)
        .join(Tenant, Tenant.id == PreviewedPlan.tenant_id)
        .where(Tenant.name == tenant)
    )


def _preview_of(tenant: str, row: PreviewedPlan) -> StoredPreview:
    return StoredPreview(
        tenant, row.environment, row.repository, row.number, row.head_commit, row.plan_id,
        row.desired_digest, row.observed_fingerprint, row.policy_digest,
        comment_id=row.comment_id, recorded_at=row.recorded_at,
    )  # fmt: skip


def _merge_row(
    session: Session, tenant_id: int, repository: str, number: int, commit: str
) -> int | None:
    return session.scalar(
        select(ReviewMerge.id).where(
            ReviewMerge.tenant_id == tenant_id, ReviewMerge.repository == repository,
            ReviewMerge.number == number, ReviewMerge.merge_commit == commit,
        )
    )  # fmt: skip


def _verdict_row(session: Session, tenant_id: int, environment: str, commit: str) -> int | None:
    return session.scalar(
        select(MergeVerdictRow.id).where(
            MergeVerdictRow.tenant_id == tenant_id,
            MergeVerdictRow.environment == environment,
            MergeVerdictRow.commit == commit,
        )
    )


def _verdict_of(verdict: StoredVerdict, *, tenant_id: int, now: dt.datetime) -> MergeVerdictRow:
    return MergeVerdictRow(
        tenant_id=tenant_id, environment=verdict.environment, commit=verdict.commit,
        matches=verdict.matches, held=verdict.held, reason=verdict.reason,
        repository=verdict.repository, number=verdict.number, plan_id=verdict.plan_id,
        settled_at=now,
    )  # fmt: skip
