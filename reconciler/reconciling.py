"""``Reconciler.reconcile(target, commit)``: the flow of one change, from the Git tree at a commit
to applied resources, under the environment's lease.

Workers call it for pushes, retries and healing; previews call ``Reconciler.preview``. Every
write of a run and of applied state carries the lease's fencing token and commits with its
audit entry and outbox event (``reconciler.recording``). A merged review's commit is settled
against its preview by the ``merge`` check the engine passes (``reconciler.merging``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from core.errors import ManifestError, RxtError
from core.logs import get_logger
from core.resources import Action, Change, ResourceRef
from planner.loading import LoadedEnvironment
from planner.plans import Plan, plan_environment
from planner.rendering import render_placed
from planner.views.json import plan_document
from reconciler import approvals, events, replanning
from reconciler.applying import ApplyLimits, Outcome, RetryPolicy, apply_changes
from reconciler.leasing import EnvironmentBusy, LeaseKeeper, held_lease
from reconciler.metering import LoopMetrics, NoMetrics
from reconciler.planning import on_planning_thread
from reconciler.recording import Note, Recorder, Subject, encode_ref
from reconciler.replanning import MergeCheck, Settled
from reconciler.sites import Sites, load_at
from reconciler.trees import RepoTree
from state.database import Clock, utc_now
from state.leases import Lease
from state.models import RunStatus
from state.store import Store

log = get_logger()

VIEWS_KEPT = 256


class TreeSource(Protocol):
    """Where an environment's manifests come from: a Git mirror (``RepositoryMirror``)."""

    def tree_at(self, commit: str) -> RepoTree: ...


Fence = Callable[[LoadedEnvironment], None]
"""Raises ``ManifestError`` when a loaded environment may not be planned."""


@dataclass(frozen=True)
class Target:
    """One environment the engine reconciles, and the repository it lives in."""

    tenant: str
    environment: str
    source: TreeSource
    repository: str = ""
    branch: str = "main"
    fence: Fence | None = None
    """Checked on every commit loaded: ``reconciler.scoping.TenantScope`` for repositories a
    tenant registered through the API; None for the operator's configured ones."""

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.environment}"


@dataclass(frozen=True)
class Options:
    """The engine's knobs for reconciles; the defaults suit one engine against real platforms."""

    holder: str = "rxt-engine"
    lease_ttl: dt.timedelta = dt.timedelta(minutes=5)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: ApplyLimits = field(default_factory=ApplyLimits)


@dataclass(frozen=True)
class Result:
    """What one reconcile did. ``status`` is one of: succeeded, failed, denied, unchanged,
    planned (auto sync is off), invalid (the manifests are wrong)."""

    status: str
    plan_id: str = ""
    run_id: int | None = None
    applied: int = 0
    wrote: int = 0
    failed: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    replanned: str = ""
    hold: str = ""
    error: str = ""


class Reconciler:
    """Plans and applies environments; one instance per engine, shared by its workers."""

    def __init__(
        self,
        store: Store,
        sites: Sites,
        *,
        options: Options | None = None,
        metrics: LoopMetrics | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.sites = sites
        self.options = options or Options()
        self.metrics = metrics or NoMetrics()
        self.clock = clock
        self.recorder = Recorder(store, clock=clock)
        self._views: dict[tuple[str, str, str, str], LoadedEnvironment] = {}
        self._views_lock = threading.Lock()

    def load(self, target: Target, commit: str) -> LoadedEnvironment:
        """The environment's manifests at ``commit``; raises ``ManifestError``.

        A commit's files never change, so the loaded view is kept for the next drift check or
        reconcile of the same commit (a few hundred views at most).
        """
        key = (target.repository, target.tenant, target.environment, commit)
        with self._views_lock:
            view = self._views.get(key)
        if view is None:
            view = load_at(target.source.tree_at(commit), target.environment)
            with self._views_lock:
                if len(self._views) >= VIEWS_KEPT:
                    self._views.pop(next(iter(self._views)))
                self._views[key] = view
        if target.fence is not None:
            target.fence(view)  # every time, not cached: grants can be withdrawn
        return view

    def subject(self, target: Target, commit: str, *, seen: bool = True) -> Subject:
        """Register the environment, and with ``seen`` the commit as the branch's newest one
        (what the sync status compares the last run with); the subject of every write about
        them. A preview's commit is not the branch's, so it is registered with ``seen=False``.
        """
        catalog = self.store.catalog
        env_id = catalog.environment(
            target.tenant, target.environment, repository=target.repository, branch=target.branch
        )
        if seen:
            catalog.saw_revision(env_id, commit)
        return Subject(target.tenant, target.environment, env_id, commit=commit)

    def plan(self, view: LoadedEnvironment, subject: Subject, *, kind: str) -> Plan:
        """Observe and plan; the plan is stored with its audit entry and evt.plan.computed."""
        plan = self._compute(view, subject)
        self._record_plan(plan, subject, kind=kind)
        return plan

    def _compute(self, view: LoadedEnvironment, subject: Subject) -> Plan:
        versions = self.sites.secret_versions(view)
        observed = self.sites.observe(view)
        return on_planning_thread(
            plan_environment, view, observed, commit=subject.commit, secret_versions=versions
        )

    def _record_plan(self, plan: Plan, subject: Subject, *, kind: str) -> None:
        counts = {a.value: plan.count(a) for a in Action if a is not Action.NOOP}
        note = Note(
            "plan.computed", subject.name,
            details={"kind": kind, "changes": len(plan.changes), **counts},
            event=events.PLAN_COMPUTED,
            event_data={"kind": kind, "changes": len(plan.changes), "denied": plan.policy.denied},
        )  # fmt: skip
        self.recorder.plan(
            replace(subject, plan_id=plan.id),
            body=plan_document(plan),
            fingerprint=plan.observed_fingerprint,
            kind=kind,
            note=note,
        )

    def preview(self, target: Target, commit: str) -> Plan:
        """Plan ``commit`` without a lease or an apply (pull-request previews, ``rxt plan``).

        The plan is stored as a ``preview`` with its audit entry; the commit is not recorded
        as the branch's, so a review's head never makes the environment look out of sync.
        """
        subject = self.subject(target, commit, seen=False)
        return self.plan(self.load(target, commit), subject, kind="preview")

    def record_preview(self, target: Target, plan: Plan) -> None:
        """Store a plan computed elsewhere for a review (the forge previews) as a ``preview``,
        with its audit entry and event, as ``preview`` stores its own."""
        subject = self.subject(target, plan.commit, seen=False)
        self._record_plan(plan, subject, kind="preview")

    def reconcile(
        self,
        target: Target,
        commit: str,
        *,
        saved_plan: str = "",
        trigger: str = "push",
        merge: MergeCheck | None = None,
    ) -> Result:
        """Plan ``commit`` and apply it under the environment's lease.

        ``merge`` settles a merged review's commit against its preview once the plan is made;
        whatever the trigger, a commit whose merge was held keeps its changes held until a
        person approves the plan (see docs/previews.md).

        Raises:
            EnvironmentBusy: another engine holds the environment's lease; retry later.
            LeaseLost: the lease was taken over mid-apply; nothing more was written.
            PlatformError: observing failed (a TransientError is worth retrying).
        """
        started = time.monotonic()
        subject = self.subject(target, commit)
        try:
            view = self.load(target, commit)
        except ManifestError as error:
            return self._invalid(subject, error)
        with held_lease(self.store.leases, target, self.options) as lease:
            result = self._reconcile(
                view, subject, lease, saved_plan=saved_plan, trigger=trigger, merge=merge
            )
        self.metrics.reconciled(target.name, outcome=result.status, seconds=_since(started))
        log.info("reconcile.finished", environment=target.name, commit=commit, **_fields(result))
        return result

    def _reconcile(
        self,
        view: LoadedEnvironment,
        subject: Subject,
        lease: Lease,
        *,
        saved_plan: str,
        trigger: str,
        merge: MergeCheck | None,
    ) -> Result:
        plan = self._compute(view, subject)
        # Settled before the plan is stored: a held plan is stored with its changes marked as
        # needing approval, which is what the tenant API lets a person approve.
        settled = merge(plan) if merge is not None else None
        hold = replanning.merge_hold(self.store, subject)
        if hold:
            plan = replanning.held_for_approval(plan, why=hold)
        self._record_plan(plan, subject, kind="apply")
        subject = replace(subject, plan_id=plan.id)
        replanned = self._replanned(subject, plan, settled=settled, saved_plan=saved_plan)
        if plan.policy.denied:
            return self._denied(plan, subject, replanned=replanned)
        held, ready = self._gate(plan, subject, hold=hold)
        if not ready:
            self._confirm(view, plan, subject, lease, run_id=None, skip=set())
            return Result("unchanged", plan.id, held=held, replanned=replanned, hold=hold)
        if trigger == "push" and not view.environment.spec.sync.auto:
            return Result("planned", plan.id, held=held, replanned=replanned, hold=hold)
        result = self._apply(view, plan, ready, subject, lease)
        return replace(result, held=held, replanned=replanned, hold=hold)

    def _replanned(
        self, subject: Subject, plan: Plan, *, settled: Settled | None, saved_plan: str
    ) -> str:
        """Why the plan is not the one promised ('' when it is), noted once in the audit chain."""
        if settled is not None and settled.new:
            details = {"review": settled.review, "matches": settled.matches,
                       "reason": settled.reason, "held": settled.held}  # fmt: skip
            self.recorder.note(subject, Note("merge.settled", subject.name, details))
        if settled is not None and not settled.matches:
            return settled.reason
        replanned = replanning.stale(self.store.database, saved_plan, plan) if saved_plan else ""
        if replanned:
            self.recorder.note(subject, Note("plan.replanned", subject.name, {"why": replanned}))
        return replanned

    def _gate(
        self, plan: Plan, subject: Subject, *, hold: str = ""
    ) -> tuple[tuple[str, ...], list[Change]]:
        """Split the plan into held changes and changes to apply now.

        Changes that need approval are held until an approval through the tenant API covers
        them (``reconciler.approvals``); released ones are marked approved for the drivers.
        ``hold`` says why every change needs one (a merge planned again: see
        ``replanning.merge_hold``).
        """
        release = approvals.released(
            self.store.database, environment_id=subject.environment_id, plan=plan
        )
        if release.approved_by:
            log.info(
                "plan.approval_found", environment=subject.name, approved_by=release.approved_by
            )
        elif hold and plan.changes:
            log.info("merge.held", environment=subject.name, plan_id=plan.id, reason=hold)
        ready: list[Change] = []
        held: list[str] = []
        for change in plan.changes:
            if not change.needs_approval:
                ready.append(change)
            elif release.covers(change):
                ready.append(replace(change, approved=True))
            else:
                held.append(str(change.ref))
        return tuple(held), ready

    def _apply(
        self,
        view: LoadedEnvironment,
        plan: Plan,
        changes: Sequence[Change],
        subject: Subject,
        lease: Lease,
    ) -> Result:
        start = Note("run.started", subject.name, {"changes": len(changes)})
        run_id = self.recorder.start_run(subject, lease=lease, note=start)
        depends = {name: app.spec.depends_on for name, app in view.apps.items()}
        drivers = {p: d for p, (d, _scope) in self.sites.used_by(view).items()}
        with LeaseKeeper(self.store.leases, lease, ttl=self.options.lease_ttl) as keeper:

            def record(outcome: Outcome) -> None:
                self._record_outcome(subject, outcome, run_id=run_id, lease=keeper.lease)

            outcomes = apply_changes(
                changes, drivers=drivers, app_depends=depends, record=record,
                retry=self.options.retry, limits=self.options.limits,
            )  # fmt: skip
            lease = keeper.lease
        failed = tuple(f"{o.change.ref}: {o.error}" for o in outcomes if not o.ok)
        pending = {o.change.ref for o in outcomes if not o.ok}
        self._confirm(view, plan, subject, lease, run_id=run_id, skip=pending)
        self._finish(subject, run_id, failed, lease=lease)
        wrote = sum(1 for o in outcomes if o.applied is not None and o.applied.wrote)
        applied = sum(o.ok for o in outcomes)
        status = "failed" if failed else "succeeded"
        return Result(status, plan.id, run_id, applied=applied, wrote=wrote, failed=failed)

    def _record_outcome(
        self, subject: Subject, outcome: Outcome, *, run_id: int, lease: Lease
    ) -> None:
        change = outcome.change
        if outcome.applied is None:
            self.metrics.apply_failed(subject.name, driver=change.ref.platform.value)
            note = Note("resource.failed", str(change.ref), {"error": outcome.error})
            self.recorder.fenced_note(subject, note, lease=lease)
            return
        done = outcome.applied
        details = {"action": change.action.value, "wrote": done.wrote, "attempts": outcome.attempts}
        if done.external_id:
            details["external_id"] = done.external_id
        deleted = change.action is Action.DELETE or change.desired is None
        self.recorder.applied(
            subject, ref=change.ref, owner=str(change.owner),
            spec=None if deleted or change.desired is None else change.desired.spec,
            run_id=run_id, lease=lease, note=Note("resource.applied", str(change.ref), details),
        )  # fmt: skip

    def _confirm(
        self,
        view: LoadedEnvironment,
        plan: Plan,
        subject: Subject,
        lease: Lease,
        *,
        run_id: int | None,
        skip: set[ResourceRef],
    ) -> None:
        """Record desired resources that match the platform but lack applied state, such as
        objects an engine wrote just before it was killed, so that drift checks see them."""
        known = {
            (v.owner_key, v.ref): v.spec_hash
            for v in self.store.runs.applied(subject.environment_id)
        }
        versions = self.sites.secret_versions(view)
        desired = on_planning_thread(render_placed, view, plan.placements, secret_versions=versions)
        changed = {c.ref for c in plan.changes} | skip
        for item in desired:
            if item.ref in changed:
                continue
            if known.get((str(item.owner), encode_ref(item.ref))) == item.digest:
                continue
            note = Note("resource.confirmed", str(item.ref), {"reason": "matches the platform"})
            self.recorder.applied(
                subject, ref=item.ref, owner=str(item.owner), spec=item.spec,
                run_id=run_id, lease=lease, note=note,
            )  # fmt: skip

    def _finish(
        self, subject: Subject, run_id: int, failed: tuple[str, ...], *, lease: Lease
    ) -> None:
        if failed:
            note = Note(
                "run.failed", subject.name, {"failed": list(failed)},
                event=events.APPLY_FAILED, event_data={"run_id": run_id, "failed": list(failed)},
            )  # fmt: skip
            status, error = RunStatus.FAILED, "; ".join(failed)
        else:
            note = Note(
                "run.succeeded", subject.name, {},
                event=events.APPLY_SUCCEEDED, event_data={"run_id": run_id},
            )  # fmt: skip
            status, error = RunStatus.SUCCEEDED, None
        self.recorder.finish_run(subject, run_id, status, lease=lease, error=error, note=note)

    def _denied(self, plan: Plan, subject: Subject, *, replanned: str) -> Result:
        blocking = [r for r in plan.policy.results if r.blocking]
        rules = [f"{r.pack}/{r.rule}: {r.message}" for r in blocking]
        for result in blocking:
            self.metrics.policy_denied(subject.name, rule=result.rule)
        note = Note(
            "policy.denied", subject.name, {"rules": rules},
            event=events.POLICY_DENIED, event_data={"rules": rules},
        )  # fmt: skip
        self.recorder.note(subject, note)
        return Result("denied", plan.id, failed=tuple(rules), replanned=replanned)

    def _invalid(self, subject: Subject, error: RxtError) -> Result:
        text = error.render()
        self.recorder.note(subject, Note("manifests.rejected", subject.name, {"error": text}))
        return Result("invalid", error=text)


def _since(started: float) -> float:
    return time.monotonic() - started


def _fields(result: Result) -> dict[str, object]:
    return {"status": result.status, "plan": result.plan_id, "applied": result.applied,
            "failed": len(result.failed)}  # fmt: skip


__all__ = ["EnvironmentBusy", "Options", "Reconciler", "Result", "Target"]
