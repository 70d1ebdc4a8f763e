"""The JSON documents the tenant API answers with, rendered from state rows inside the caller's
read transaction; and the cursors of its listings. ``state.tenancy`` calls these.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import StateError
from state.models import (
    AuditEntry,
    DriftReport,
    DriftStatus,
    Environment,
    Plan,
    PlanApproval,
    Repository,
    RepositoryRegistration,
    Revision,
    Run,
    RunStatus,
)


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor of the next one (empty at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str


def encode_cursor(value: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(value)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The position a cursor names; ``StateError`` when it is not one this API made."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError) as error:
        raise StateError(f"cursor {cursor[:40]!r} is not valid", hint="pass nextCursor") from error
    if not isinstance(value, list):
        raise StateError(f"cursor {cursor[:40]!r} is not valid", hint="pass nextCursor")
    return value


def _stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def needs_approval(body: Mapping[str, Any]) -> bool:
    """Whether a stored plan holds a change that waits for a person's approval."""
    changes = body.get("changes") or []
    return any(isinstance(c, Mapping) and c.get("needs_approval") for c in changes)


def audit_page(rows: Sequence[AuditEntry], limit: int) -> Page:
    items = [
        {"seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
         "object": r.object, "commit": r.commit, "planId": r.plan_id,
         "details": json.loads(r.details), "hash": r.hash}
        for r in rows[:limit]
    ]  # fmt: skip
    return Page(items, encode_cursor([rows[limit - 1].seq]) if len(rows) > limit else "")


def repository_doc(session: Session, row: Repository) -> dict[str, Any]:
    reg = session.scalars(
        select(RepositoryRegistration).where(RepositoryRegistration.repository_id == row.id)
    ).one_or_none()
    envs = session.execute(
        select(Environment.id, Environment.name)
        .where(Environment.repository_id == row.id, Environment.removed_at.is_(None))
        .order_by(Environment.name)
    ).all()
    paths = reg.environment_paths if reg else {}
    return {
        "id": row.id, "url": row.url, "branch": row.branch,
        "webhookSecretRef": reg.webhook_secret_ref if reg else None,
        "credentialsRef": reg.credentials_ref if reg else None,
        "notifyUrl": reg.notify_url if reg else None,
        "forge": reg.forge if reg else None,
        "environments": [{"id": i, "name": n, "path": paths.get(n)} for i, n in envs],
        "createdAt": row.created_at.isoformat(), "removedAt": _stamp(row.removed_at),
    }  # fmt: skip


def environment_doc(session: Session, row: Environment) -> dict[str, Any]:
    run = session.scalars(
        select(Run).where(Run.environment_id == row.id).order_by(Run.id.desc()).limit(1)
    ).first()
    head = session.scalars(
        select(Revision.commit)
        .where(Revision.environment_id == row.id)
        .order_by(Revision.seen_at.desc(), Revision.id.desc())
        .limit(1)
    ).first()
    drift = session.scalars(
        select(DriftReport)
        .where(DriftReport.environment_id == row.id)
        .order_by(DriftReport.checked_at.desc(), DriftReport.id.desc())
        .limit(1)
    ).first()
    return {
        "id": row.id, "name": row.name, "repositoryId": row.repository_id,
        "removedAt": _stamp(row.removed_at),
        "sync": {"status": _sync_status(run, head), "revision": head,
                 "lastRun": run_doc(run) if run else None},
        "drift": {"status": (drift.status if drift else DriftStatus.NEVER_RUN).value,
                  "checkedAt": _stamp(drift.checked_at) if drift else None,
                  "reportId": drift.id if drift else None},
    }  # fmt: skip


def _sync_status(run: Run | None, head: str | None) -> str:
    """Argo CD's words: Synced when the newest commit seen was applied, OutOfSync otherwise."""
    if run is None:
        return "Unknown" if head is None else "OutOfSync"
    if run.status == RunStatus.SUCCEEDED and (head is None or head == run.commit):
        return "Synced"
    return "OutOfSync"


def plan_doc(session: Session, row: Plan, *, body: bool) -> dict[str, Any]:
    approval = session.scalars(
        select(PlanApproval).where(PlanApproval.plan_id == row.id)
    ).one_or_none()
    doc: dict[str, Any] = {
        "id": row.id, "environmentId": row.environment_id, "commit": row.commit,
        "kind": row.kind, "planHash": row.plan_hash, "createdAt": row.created_at.isoformat(),
        "needsApproval": needs_approval(row.body),
        "approval": approval_doc(approval) if approval else None,
    }  # fmt: skip
    if body:
        doc["body"] = row.body
    return doc


def approval_doc(row: PlanApproval) -> dict[str, Any]:
    return {"planId": row.plan_id, "approvedBy": row.approved_by, "reason": row.reason,
            "approvedAt": row.approved_at.isoformat()}  # fmt: skip


def run_doc(row: Run) -> dict[str, Any]:
    return {
        "id": row.id, "environmentId": row.environment_id, "planId": row.plan_id,
        "commit": row.commit, "status": row.status.value, "queuedAt": _stamp(row.queued_at),
        "startedAt": _stamp(row.started_at), "finishedAt": _stamp(row.finished_at),
        "error": row.error,
    }  # fmt: skip


def drift_doc(row: DriftReport) -> dict[str, Any]:
    return {
        "id": row.id, "environmentId": row.environment_id, "status": row.status.value,
        "checkedAt": row.checked_at.isoformat(), "diffs": row.diffs, "error": row.error,
    }  # fmt: skip
