"""The work queue: enqueue, claim, complete, and fail with a time to retry at.

Webhooks and the scheduler enqueue; reconciler workers claim. On PostgreSQL claims use
``SELECT ... FOR UPDATE SKIP LOCKED`` so several engines share one database; on SQLite the write
transaction serialises claims, which suits its one worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import StateError
from state.database import Clock, Database, utc_now
from state.models import WorkItem, WorkStatus


@dataclass(frozen=True)
class Claimed:
    """A work item a worker holds until ``claimed_until``."""

    id: int
    kind: str
    key: str
    payload: Mapping[str, Any]
    attempts: int
    claimed_until: dt.datetime


class WorkQueue:
    """A table of work items shared by every engine on the same database."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def enqueue(
        self,
        kind: str,
        *,
        key: str,
        payload: Mapping[str, Any] | None = None,
        run_at: dt.datetime | None = None,
    ) -> int:
        """Add a work item, ready at ``run_at`` (now by default); returns its id."""
        now = self.clock()
        with self.database.write() as session:
            return add_item(session, kind, key=key, payload=payload, now=now, run_at=run_at)

    def claim(
        self, *, worker: str, limit: int = 1, hold: dt.timedelta = dt.timedelta(minutes=5)
    ) -> list[Claimed]:
        """Claim up to ``limit`` ready items, oldest first, for ``hold``.

        Items whose claim has run out (a worker died holding them) are ready again.
        """
        now = self.clock()
        with self.database.write() as session:
            ready = (WorkItem.status == WorkStatus.READY) & (WorkItem.run_at <= now)
            lapsed = (WorkItem.status == WorkStatus.CLAIMED) & (WorkItem.claimed_until <= now)
            query = (
                select(WorkItem)
                .where(ready | lapsed)
                .order_by(WorkItem.run_at, WorkItem.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            items = list(session.scalars(query))
            for item in items:
                item.status, item.claimed_by = WorkStatus.CLAIMED, worker
                item.claimed_until, item.attempts = now + hold, item.attempts + 1
            return [_claimed(item) for item in items]

    def complete(self, item_id: int, *, worker: str) -> None:
        """Mark a claimed item done."""
        now = self.clock()
        with self.database.write() as session:
            item = _held(session.get(WorkItem, item_id), item_id, worker)
            item.status, item.finished_at, item.claimed_until = WorkStatus.DONE, now, None

    def fail(self, item_id: int, *, worker: str, error: str, retry_at: dt.datetime | None) -> None:
        """Record a failure: ready again at ``retry_at``, or failed for good when ``None``."""
        now = self.clock()
        with self.database.write() as session:
            item = _held(session.get(WorkItem, item_id), item_id, worker)
            item.last_error, item.claimed_by, item.claimed_until = error, None, None
            if retry_at is None:
                item.status, item.finished_at = WorkStatus.FAILED, now
            else:
                item.status, item.run_at = WorkStatus.READY, retry_at

    def status(self, item_id: int) -> WorkStatus:
        """Where an item is now."""
        with self.database.read() as session:
            item = session.get(WorkItem, item_id)
            if item is None:
                raise StateError(f"work item {item_id} does not exist")
            return item.status


def add_item(
    session: Session,
    kind: str,
    *,
    key: str,
    payload: Mapping[str, Any] | None,
    now: dt.datetime,
    run_at: dt.datetime | None = None,
) -> int:
    """Add a work item within the caller's write transaction, so it commits with the write that
    asked for it (an approval and the reconcile it starts); returns its id."""
    item = WorkItem(
        kind=kind,
        key=key,
        payload=dict(payload or {}),
        status=WorkStatus.READY,
        run_at=run_at or now,
        attempts=0,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item.id


def _held(item: WorkItem | None, item_id: int, worker: str) -> WorkItem:
    if item is None or item.status != WorkStatus.CLAIMED or item.claimed_by != worker:
        raise StateError(
            f"work item {item_id} is not claimed by {worker!r}",
            hint="its claim ran out and another worker may have it; do not report on it",
        )
    return item


def _claimed(item: WorkItem) -> Claimed:
    until = item.claimed_until
    if until is None:  # set in the same transaction by claim(); here for the type checker
        raise StateError(f"work item {item.id} has no claim time")
    return Claimed(item.id, item.kind, item.key, dict(item.payload), item.attempts, until)
