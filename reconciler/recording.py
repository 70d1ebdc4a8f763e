"""Fenced, transactional records of the reconcile loop: each write of a run, an applied
resource, a plan or a drift report commits together with its audit entry and outbox event.

``reconciler.reconciling`` and ``reconciler.drifting`` call ``Recorder``. The state store's own
``Runs`` methods open one transaction each, so this module writes the same rows within one
transaction of its own, checking the lease's fencing token first (``state.leases.check_fence``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.hashing import digest
from core.resources import ResourceRef
from state.audit import AuditRecord
from state.database import Clock
from state.leases import Lease, check_fence
from state.models import AppliedResource, DriftReport, DriftStatus, Plan, Run, RunStatus
from state.outbox import add_event
from state.store import Store

ACTOR = "rxt-engine"


@dataclass(frozen=True)
class Note:
    """An audit entry and, optionally, an outbox event describing one write."""

    action: str
    object: str
    details: Mapping[str, Any] = field(default_factory=dict)
    event: str = ""
    event_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """Whose chain and which environment the writes of one reconcile belong to."""

    tenant: str
    environment: str
    environment_id: int
    commit: str = ""
    plan_id: str = ""

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.environment}"


class Recorder:
    """Writes of one store, each with its audit entry and outbox event in one transaction."""

    def __init__(self, store: Store, *, clock: Clock, actor: str = ACTOR) -> None:
        self.store = store
        self.clock = clock
        self.actor = actor

    @contextmanager
    def _write(
        self, subject: Subject, notes: Sequence[Note], *, lease: Lease | None
    ) -> Iterator[Session]:
        now = self.clock()
        with self.store.database.write() as session:
            if lease is not None:
                check_fence(session, lease, now=now)
            yield session
            records = [self._record(subject, note) for note in notes]
            if records:
                self.store.audit.append_in(session, subject.tenant, records)
            for note in notes:
                if note.event:
                    data = {"environment": subject.name, "commit": subject.commit}
                    add_event(
                        session,
                        note.event,
                        subject=subject.name,
                        data={**data, "plan_id": subject.plan_id, **note.event_data},
                        now=now,
                    )

    def _record(self, subject: Subject, note: Note) -> AuditRecord:
        return AuditRecord(
            actor=self.actor,
            action=note.action,
            object=note.object,
            commit=subject.commit,
            plan_id=stored_plan_id(subject.plan_id),
            details=dict(note.details),
        )

    def plan(
        self, subject: Subject, *, body: Mapping[str, Any], fingerprint: str, kind: str, note: Note
    ) -> None:
        """Store a computed plan (once per id) with its audit entry and event; no lease needed,
        since a plan changes nothing on any platform."""
        with self._write(subject, [note], lease=None) as session:
            if session.get(Plan, stored_plan_id(subject.plan_id)) is None:
                session.add(
                    Plan(
                        id=stored_plan_id(subject.plan_id),
                        environment_id=subject.environment_id,
                        commit=subject.commit,
                        kind=kind,
                        body=dict(body),
                        plan_hash=digest(dict(body)),
                        fingerprint=fingerprint,
                        created_at=self.clock(),
                    )
                )

    def start_run(self, subject: Subject, *, lease: Lease, note: Note) -> int:
        """A new run, already running under ``lease``; returns its id."""
        with self._write(subject, [note], lease=lease) as session:
            now = self.clock()
            row = Run(
                environment_id=subject.environment_id,
                plan_id=stored_plan_id(subject.plan_id) or None,
                commit=subject.commit,
                status=RunStatus.RUNNING,
                queued_at=now,
                started_at=now,
                fencing_token=lease.token,
            )
            session.add(row)
            session.flush()
            return row.id

    def finish_run(
        self,
        subject: Subject,
        run_id: int,
        status: RunStatus,
        *,
        lease: Lease,
        error: str | None,
        note: Note,
    ) -> None:
        """Move a running run to its end state, with the run's closing audit entry and event."""
        with self._write(subject, [note], lease=lease) as session:
            row = session.get(Run, run_id)
            if row is None or row.status is not RunStatus.RUNNING:
                return
            row.status, row.finished_at, row.error = status, self.clock(), error
            row.fencing_token = lease.token

    def applied(
        self,
        subject: Subject,
        *,
        ref: ResourceRef,
        owner: str,
        spec: Mapping[str, Any] | None,
        run_id: int | None,
        lease: Lease,
        note: Note,
    ) -> None:
        """Remember ``spec`` as the last applied desired state of ``ref`` (``None``: deleted)."""
        with self._write(subject, [note], lease=lease) as session:
            key = (AppliedResource.owner_key == owner) & (AppliedResource.ref == encode_ref(ref))
            if spec is None:
                session.execute(delete(AppliedResource).where(key))
                return
            row = session.scalars(select(AppliedResource).where(key)).one_or_none()
            if row is None:
                row = AppliedResource(
                    environment_id=subject.environment_id, owner_key=owner, ref=encode_ref(ref)
                )
                session.add(row)
            row.spec, row.spec_hash, row.run_id = dict(spec), digest(dict(spec)), run_id
            row.applied_at, row.fencing_token = self.clock(), lease.token

    def drift(
        self,
        subject: Subject,
        status: DriftStatus,
        *,
        diffs: Sequence[Mapping[str, Any]],
        error: str | None,
        notes: Sequence[Note],
    ) -> int:
        """Store one drift report with its audit entry (and event when drift was found)."""
        with self._write(subject, notes, lease=None) as session:
            row = DriftReport(
                environment_id=subject.environment_id,
                status=status,
                checked_at=self.clock(),
                diffs=[dict(item) for item in diffs],
                error=error,
            )
            session.add(row)
            session.flush()
            return row.id

    def note(self, subject: Subject, note: Note) -> None:
        """An audit entry (and event) that goes with no other write, e.g. a policy denial."""
        with self._write(subject, [note], lease=None):
            pass

    def fenced_note(self, subject: Subject, note: Note, *, lease: Lease) -> None:
        """An audit entry written only while ``lease`` is still the current grant."""
        with self._write(subject, [note], lease=lease):
            pass


def encode_ref(ref: ResourceRef) -> str:
    """The stored form of a reference: ``platform:kind/scope/name`` (``str(ref)``)."""
    return str(ref)


def stored_plan_id(plan_id: str) -> str:
    """A plan id as the store keeps it: the hex digest without its ``sha256:`` prefix, which
    fits the 64-character plan id columns."""
    return plan_id.rpartition(":")[2]
