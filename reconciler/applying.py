"""Apply a plan's changes in dependency order, a bounded number at a time per driver.

``reconciler.reconciling`` calls ``apply_changes`` under the environment's lease. A change
waits for its dependencies to be applied and healthy (with a timeout); a ``TransientError`` is
retried with jittered exponential backoff up to a limit; anything else, or the last retry,
ends the change as Failed with its reason, and what depends on it is skipped as Failed too.
"""

from __future__ import annotations

import graphlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from core.errors import Location, ManifestError, PlatformError, TransientError
from core.logs import get_logger
from core.resources import Action, Change, Platform, ResourceRef
from drivers.protocol import Applied, Driver
from planner.ordering import rank
from planner.rendering.common import ENVIRONMENT_APP

log = get_logger()


@dataclass(frozen=True)
class RetryPolicy:
    """How a transient failure is retried: ``attempts`` tries in all, the n-th retry waiting a
    random time up to ``base * 2**n`` (capped), so that engines never retry in step."""

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2**retry)
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class ApplyLimits:
    """Bounds of one apply: concurrency per driver, how long a dependency may take to become
    healthy, how often its health is polled, and a deadline for the whole apply."""

    per_driver: int = 4
    health_timeout: float = 300.0
    health_poll: float = 2.0
    deadline: float = 3600.0


@dataclass(frozen=True)
class Outcome:
    """What became of one change: applied (maybe without a write) or failed with a reason."""

    change: Change
    applied: Applied | None = None
    error: str = ""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.applied is not None


@dataclass
class _Run:
    drivers: Mapping[Platform, Driver]
    record: Callable[[Outcome], None]
    retry: RetryPolicy
    limits: ApplyLimits
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random
    started: float
    gates: dict[Platform, threading.Semaphore] = field(default_factory=dict)
    failed: set[ResourceRef] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)


# What "app A dependsOn B" orders: A's workloads start once B's workloads are healthy. The rest
# of an app (its segments, groups, policies, load balancers) follows its own resources, so one
# app's firewall policy may name a dependent app's group without making a cycle; this is the
# planner's order (``planner.ordering``) with the wait for health added.
WORKLOAD_KINDS = frozenset({"VirtualMachine", "Deployment", "StatefulSet"})


def dependency_graph(
    changes: Sequence[Change], app_depends: Mapping[str, Sequence[str]]
) -> dict[ResourceRef, set[ResourceRef]]:
    """Each change's predecessors: its resource dependencies, for a workload the workloads of
    the apps its app depends on, and the changes of a lower kind rank in its own app or owned by
    the environment (namespaces and segments before what they hold). Deletes come after every
    other change, most dependent kinds first, one rank at a time."""
    forward = [c for c in changes if c.action is not Action.DELETE]
    deletes = [c for c in changes if c.action is Action.DELETE]
    refs = {c.ref for c in forward}
    workloads = _workloads_by_app(forward)
    graph: dict[ResourceRef, set[ResourceRef]] = {}
    for change in forward:
        needs = {dep for dep in explicit_needs(change, workloads, app_depends) if dep in refs}
        needs |= {c.ref for c in forward if _holds(c, change)}
        needs.discard(change.ref)
        graph[change.ref] = needs
    for change in deletes:
        graph[change.ref] = refs | {c.ref for c in deletes if rank(c) > rank(change)}
    return graph


def _holds(first: Change, then: Change) -> bool:
    """Whether ``first`` comes before ``then`` by kind rank: within one app, or env-wide."""
    same_scope = first.owner.app in (then.owner.app, ENVIRONMENT_APP)
    return same_scope and rank(first) < rank(then)


def _workloads_by_app(changes: Sequence[Change]) -> dict[str, set[ResourceRef]]:
    by_app: dict[str, set[ResourceRef]] = {}
    for change in changes:
        if change.action is not Action.DELETE and change.ref.kind in WORKLOAD_KINDS:
            by_app.setdefault(change.owner.app, set()).add(change.ref)
    return by_app


def explicit_needs(
    change: Change,
    workloads: Mapping[str, set[ResourceRef]],
    app_depends: Mapping[str, Sequence[str]],
) -> set[ResourceRef]:
    """What ``change`` must wait for to be healthy: its ``depends_on`` and, for a workload, the
    workloads of the apps its app depends on (``workloads`` maps an app to them)."""
    needs = set(change.desired.depends_on if change.desired else ())
    if change.ref.kind in WORKLOAD_KINDS:
        for app in app_depends.get(change.owner.app, ()):
            needs |= workloads.get(app, set())
    needs.discard(change.ref)
    return needs


def _sorter(
    graph: Mapping[ResourceRef, set[ResourceRef]],
) -> graphlib.TopologicalSorter[ResourceRef]:
    """The prepared sorter; a cycle is the manifests' fault, named with the apps it runs through."""
    sorter: graphlib.TopologicalSorter[ResourceRef] = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1] if len(error.args) > 1 else []
        raise ManifestError(
            f"the changes' dependencies form a cycle: {' -> '.join(str(r) for r in cycle)}",
            location=Location("apps"),
            hint="remove one dependsOn entry so that the apps can be applied in some order",
        ) from error
    return sorter


def apply_changes(
    changes: Sequence[Change],
    *,
    drivers: Mapping[Platform, Driver],
    app_depends: Mapping[str, Sequence[str]],
    record: Callable[[Outcome], None],
    retry: RetryPolicy | None = None,
    limits: ApplyLimits | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> list[Outcome]:
    """Apply ``changes``; ``record`` is called once per outcome, as soon as it is known.

    ``record`` raising (a lost lease) stops the apply: no change is started after it.

    Raises:
        ManifestError: the dependencies form a cycle; nothing is applied.
    """
    limits = limits or ApplyLimits()
    run = _Run(
        drivers, record, retry or RetryPolicy(), limits, sleep, clock, rng or random.Random(),  # noqa: S311 - jitter, not secrecy
        started=clock(),
    )  # fmt: skip
    run.gates = {p: threading.Semaphore(limits.per_driver) for p in drivers}
    sorter = _sorter(dependency_graph(changes, app_depends))
    by_ref = {c.ref: c for c in changes}
    workloads = _workloads_by_app(changes)
    outcomes: list[Outcome] = []
    workers = max(1, limits.per_driver * max(1, len(drivers)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rxt-apply") as pool:
        running: dict[Future[Outcome], ResourceRef] = {}
        while sorter.is_active() and not run.stop.is_set():
            for ref in sorter.get_ready():
                needs = explicit_needs(by_ref[ref], workloads, app_depends)
                running[pool.submit(_one, run, by_ref[ref], needs)] = ref
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                ref = running.pop(future)
                outcome = future.result()
                outcomes.append(outcome)
                if not outcome.ok:
                    run.failed.add(ref)
                try:
                    record(outcome)
                except Exception:
                    run.stop.set()
                    _drain(running)
                    raise
                sorter.done(ref)
    return outcomes


def _drain(running: Mapping[Future[Outcome], ResourceRef]) -> None:
    for future in running:
        future.cancel()
    wait(running)


def _one(run: _Run, change: Change, needs: set[ResourceRef]) -> Outcome:
    blocked = sorted(str(ref) for ref in needs if ref in run.failed)
    if blocked:
        return Outcome(change, error=f"not applied: dependency {', '.join(blocked)} failed")
    unhealthy = _await_health(run, needs)
    if unhealthy:
        return Outcome(change, error=unhealthy)
    driver = run.drivers.get(change.ref.platform)
    if driver is None:
        return Outcome(change, error=f"no driver for {change.ref.platform.value}")
    with run.gates[change.ref.platform]:
        return _with_retries(run, driver, change)


def _with_retries(run: _Run, driver: Driver, change: Change) -> Outcome:
    attempt = 0
    while True:
        attempt += 1
        try:
            return Outcome(change, applied=driver.apply(change), attempts=attempt)
        except TransientError as error:
            spent = run.clock() - run.started
            if attempt >= run.retry.attempts or spent >= run.limits.deadline:
                return Outcome(change, error=_reason(error, attempt), attempts=attempt)
            pause = run.retry.delay(attempt - 1, run.rng)
            log.warning("change.retried", ref=str(change.ref), attempt=attempt, wait=pause)
            run.sleep(pause)
        except PlatformError as error:
            return Outcome(change, error=_reason(error, attempt), attempts=attempt)


def _reason(error: PlatformError, attempts: int) -> str:
    kind = type(error).__name__
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return f"{kind}{tries}: {error.message}"


def _await_health(run: _Run, needs: set[ResourceRef]) -> str:
    """'' once every dependency is healthy; the reason otherwise (failed or timed out)."""
    deadline = run.clock() + run.limits.health_timeout
    for ref in sorted(needs):
        driver = run.drivers.get(ref.platform)
        if driver is None:
            continue
        while True:
            health = driver.health(ref)
            if health.ready:
                break
            if health.failed:
                return f"not applied: dependency {ref} is unhealthy: {health.message}"
            if run.clock() >= deadline:
                return (
                    f"not applied: dependency {ref} was not healthy within "
                    f"{run.limits.health_timeout:g}s: {health.message}"
                )
            run.sleep(run.limits.health_poll)
    return ""
