"""Drift checks: observe an environment, diff it against the last applied desired state, store
the report with per-field diffs, notify, and in ``heal`` mode revert it through the policy gate.

Workers run ``DriftChecker.check`` for the drift items the scheduler enqueues. One check per
environment runs at a time: each takes the environment's drift lease (not the apply lease, so a
check never waits for an apply, nor an apply for a check).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.errors import ManifestError, PlatformError, RxtError
from core.hashing import digest
from core.logs import get_logger
from core.resources import Action, Change, DesiredResource, OwnerKey
from planner.diffing import diff
from planner.loading import LoadedEnvironment
from planner.manifests import Sync
from reconciler import events, history
from reconciler.metering import LoopMetrics, NoMetrics
from reconciler.notifying import Message, Notifier
from reconciler.reconciling import Reconciler, Result, Target
from reconciler.recording import Note, Subject
from state.models import DriftStatus

log = get_logger()

DRIFT_LEASE_TTL = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class DriftOutcome:
    """One check: its status, the per-resource drift found, and the heal's result if any."""

    status: DriftStatus
    items: tuple[dict[str, Any], ...] = ()
    report_id: int | None = None
    healed: Result | None = None
    error: str = ""


def drift_item(change: Change) -> dict[str, Any]:
    """One drifted resource as stored: what changed by hand, field by field."""
    if change.action is Action.CREATE:
        what = "missing: deleted outside RXT Deploy"
    else:
        what = "changed outside RXT Deploy"
    return {
        "ref": str(change.ref),
        "owner": str(change.owner),
        "drift": what,
        "fields": [{"path": d.path, "expected": d.after, "actual": d.before} for d in change.diffs],
    }


class DriftChecker:
    """Runs drift checks for the engine's environments."""

    def __init__(
        self,
        reconciler: Reconciler,
        *,
        notifier: Notifier | None = None,
        metrics: LoopMetrics | None = None,
        holder: str = "rxt-engine",
    ) -> None:
        self.reconciler = reconciler
        self.store = reconciler.store
        self.notifier = notifier
        self.metrics = metrics or NoMetrics()
        self.holder = holder

    def check(self, target: Target) -> DriftOutcome:
        """Check one environment; the report is stored before any heal starts."""
        env_id = history.environment_id(self.store.database, target.tenant, target.environment)
        commit = history.last_applied_commit(self.store.database, env_id) if env_id else None
        if env_id is None or commit is None:
            return DriftOutcome(DriftStatus.NEVER_RUN, error="nothing was applied yet")
        subject = Subject(target.tenant, target.environment, env_id, commit=commit)
        name = f"drift:{target.tenant}/{target.environment}"
        lease = self.store.leases.acquire(name, holder=self.holder, ttl=DRIFT_LEASE_TTL)
        if lease is None:
            log.info("drift.skipped", environment=target.name, why="a check is running")
            return DriftOutcome(DriftStatus.NEVER_RUN, error="another check of it is running")
        try:
            outcome = self._check(target, subject)
        finally:
            self.store.leases.release(lease)
        return self._heal(target, subject, outcome)

    def _check(self, target: Target, subject: Subject) -> DriftOutcome:
        try:
            view = self.reconciler.load(target, subject.commit)
        except ManifestError as error:
            return self._store(subject, DriftStatus.ERROR, error=error.render())
        if view.environment.spec.drift.interval == "0":
            return self._store(subject, DriftStatus.DISABLED)
        try:
            items = self.compare(view, subject)
        except (PlatformError, RxtError) as error:
            return self._store(subject, DriftStatus.ERROR, error=error.render())
        status = DriftStatus.DRIFTED if items else DriftStatus.OK
        outcome = self._store(subject, status, items=items)
        if items:
            self.metrics.drift_detected(subject.name)
            self._notify(subject, items)
        return replace(outcome, items=tuple(items))

    def compare(self, view: LoadedEnvironment, subject: Subject) -> list[dict[str, Any]]:
        """The drift of every resource last applied in the environment."""
        desired = [
            DesiredResource(history.decode_ref(row.ref), OwnerKey.parse(row.owner_key), row.spec)
            for row in self.store.runs.applied(subject.environment_id)
        ]
        observed = self.reconciler.sites.observe(view)
        ignores = {name: app.spec.ignore for name, app in view.apps.items()}
        found = diff(
            desired, observed, tenant=subject.tenant, environment=subject.environment,
            sync=Sync(prune=False), ignores=ignores,
        )  # fmt: skip
        return [drift_item(change) for change in sorted(found.changes, key=lambda c: c.ref)]

    def _store(
        self,
        subject: Subject,
        status: DriftStatus,
        *,
        items: Sequence[Mapping[str, Any]] = (),
        error: str | None = None,
    ) -> DriftOutcome:
        details: dict[str, Any] = {"status": status.value, "drifted": len(items)}
        if error:
            details["error"] = error
        # A check that found nothing is kept as its report row only: audit entries are for
        # what changed or went wrong, and checks run every few minutes.
        notes = [] if status is DriftStatus.OK else [Note("drift.checked", subject.name, details)]
        if items:
            data = {"status": status.value, "resources": [i["ref"] for i in items]}
            notes.append(
                Note("drift.detected", subject.name, {"resources": data["resources"]},
                     event=events.DRIFT_DETECTED, event_data=data)
            )  # fmt: skip
        report = self.reconciler.recorder.drift(
            subject, status, diffs=items, error=error, notes=notes
        )
        log.info("drift.checked", environment=subject.name, status=status.value, drifted=len(items))
        return DriftOutcome(status, report_id=report, error=error or "")

    def _notify(self, subject: Subject, items: Sequence[Mapping[str, Any]]) -> None:
        if self.notifier is None:
            return
        lines = [
            f"{item['ref']}: " + ", ".join(
                f"{f['path']} expected {f['expected']!r}, found {f['actual']!r}"
                for f in item["fields"]
            ) if item["fields"] else f"{item['ref']}: {item['drift']}"
            for item in items
        ]  # fmt: skip
        message = Message(f"Drift in {subject.name} at {subject.commit[:12]}", lines)
        # The same drift is reported once; a different drift on the same revision is news.
        event = f"drift.detected:{digest(list(items))[:24]}"
        self.notifier.notify(
            environment=subject.name, revision=subject.commit, event=event, message=message
        )

    def _heal(self, target: Target, subject: Subject, outcome: DriftOutcome) -> DriftOutcome:
        if outcome.status is not DriftStatus.DRIFTED:
            return outcome
        view = self.reconciler.load(target, subject.commit)
        if view.environment.spec.drift.mode != "heal":
            return outcome
        # The revert is a plan of the last applied commit against what is there now, through
        # the same policy gate, lease, runs and audit as a push.
        healed = self.reconciler.reconcile(target, subject.commit, trigger="heal")
        log.info("drift.healed", environment=target.name, status=healed.status)
        return replace(outcome, healed=healed)
