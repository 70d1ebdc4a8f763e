"""Applying changes: dependency order, per-driver concurrency, retries with backoff, health
waits with timeouts, and failures that stop what depends on them. Virtual time, no sleeping."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from core.errors import InvalidRequest, TransientError
from core.resources import Action, Change, DesiredResource, OwnerKey, Platform, ResourceRef
from drivers.protocol import Applied, Health
from reconciler.applying import ApplyLimits, Outcome, RetryPolicy, apply_changes


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedDriver:
    """Applies by recording; ``failures`` maps a name to the errors its next applies raise."""

    platform: ClassVar[str] = "kubernetes"

    def __init__(self, *, failures: dict[str, list[Exception]] | None = None) -> None:
        self.failures = failures or {}
        self.order: list[str] = []
        self.healthy_after: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hook: Callable[[], None] = lambda: None

    def observe(self, scope: Any) -> list[Any]:
        return []

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        pending = self.failures.get(change.ref.name, [])
        if pending:
            raise pending.pop(0)
        self.hook()
        with self.lock:
            self.order.append(change.ref.name)
        return Applied(change.ref, change.action, wrote=True)

    def health(self, ref: ResourceRef) -> Health:
        left = self.healthy_after.get(ref.name, 0)
        if left == -1:
            return Health(ready=False, message="crash looping", failed=True)
        if left > 0:
            self.healthy_after[ref.name] = left - 1
            return Health(ready=False, message="rolling out")
        return Health(ready=True)


def change(
    name: str, *, kind: str = "Deployment", app: str = "web", needs: Sequence[str] = ()
) -> Change:
    ref = ResourceRef(Platform.KUBERNETES, kind, name, "ns")
    depends = tuple(ResourceRef(Platform.KUBERNETES, "Deployment", n, "ns") for n in needs)
    owner = OwnerKey("acme", "prod", app, name)
    desired = DesiredResource(ref, owner, {"name": name}, depends_on=depends)
    return Change(Action.CREATE, ref, owner, desired=desired)


def run(
    changes: Sequence[Change],
    driver: ScriptedDriver,
    time: VirtualTime,
    *,
    app_depends: dict[str, list[str]] | None = None,
    limits: ApplyLimits | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Outcome]:
    recorded: list[Outcome] = []
    outcomes = apply_changes(
        changes,
        drivers={Platform.KUBERNETES: driver},
        app_depends=app_depends or {},
        record=recorded.append,
        retry=retry or RetryPolicy(attempts=3, base_seconds=1.0, cap_seconds=10.0),
        limits=limits or ApplyLimits(per_driver=1, health_timeout=30.0, health_poll=5.0),
        sleep=time.sleep,
        clock=time.clock,
        rng=random.Random(4),
    )
    assert recorded == outcomes
    return {o.change.ref.name: o for o in outcomes}


def test_lower_kinds_and_declared_dependencies_are_applied_first() -> None:
    driver, time = ScriptedDriver(), VirtualTime()
    changes = [change("web", needs=["api"]), change("api"), change("acme", kind="Namespace")]
    run(changes, driver, time)
    assert driver.order == ["acme", "api", "web"]


def test_an_apps_workloads_wait_for_the_workloads_of_the_apps_it_depends_on() -> None:
    driver, time = ScriptedDriver(), VirtualTime()
    changes = [change("front", app="web"), change("db-0", app="db"), change("db-1", app="db")]
    run(changes, driver, time, app_depends={"web": ["db"]})
    assert driver.order[-1] == "front"


@pytest.mark.parametrize(
    ("failures", "ok", "attempts", "reason"),
    [
        ([TransientError("busy")], True, 2, ""),
        ([TransientError("busy")] * 2, True, 3, ""),
        ([TransientError("busy")] * 3, False, 3, "TransientError after 3 attempts: busy"),
        ([InvalidRequest("bad field")], False, 1, "InvalidRequest: bad field"),
    ],
)
def test_only_transient_errors_are_retried_and_only_up_to_the_limit(
    failures: list[Exception], ok: bool, attempts: int, reason: str
) -> None:
    driver, time = ScriptedDriver(failures={"api": list(failures)}), VirtualTime()
    outcome = run([change("api")], driver, time)["api"]
    assert (outcome.ok, outcome.attempts, outcome.error) == (ok, attempts, reason)
    assert len(time.sleeps) == attempts - 1


def test_backoff_grows_exponentially_with_jitter_and_stays_under_its_cap() -> None:
    policy = RetryPolicy(attempts=10, base_seconds=1.0, cap_seconds=8.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered: no two alike


def test_a_failed_change_fails_what_depends_on_it_without_applying_it() -> None:
    driver = ScriptedDriver(failures={"api": [InvalidRequest("rejected")]})
    time = VirtualTime()
    outcomes = run([change("api"), change("web", needs=["api"]), change("other")], driver, time)
    assert outcomes["web"].error == ("not applied: dependency kubernetes:Deployment/ns/api failed")
    assert driver.order == ["other"]


@pytest.mark.parametrize(
    ("polls", "ok", "reason"),
    [
        (2, True, ""),
        (100, False, "was not healthy within 30s: rolling out"),
        (-1, False, "is unhealthy: crash looping"),
    ],
)
def test_a_dependent_waits_for_health_and_every_wait_has_a_timeout(
    polls: int, ok: bool, reason: str
) -> None:
    driver, time = ScriptedDriver(), VirtualTime()
    driver.healthy_after["api"] = polls
    outcome = run([change("api"), change("web", needs=["api"])], driver, time)["web"]
    assert outcome.ok is ok
    assert reason in outcome.error
    assert time.now <= 30.0 + 5.0


def test_no_more_than_the_limit_of_changes_run_at_once_on_one_driver() -> None:
    driver, time = ScriptedDriver(), VirtualTime()
    active, peak, gate = [0], [0], threading.Barrier(2, timeout=10)

    def hook() -> None:
        with driver.lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        gate.wait()  # two must be in flight together, or this times out
        with driver.lock:
            active[0] -= 1

    driver.hook = hook
    run([change(f"app{i}") for i in range(6)], driver, time, limits=ApplyLimits(per_driver=2))
    assert peak[0] == 2
    assert sorted(driver.order) == [f"app{i}" for i in range(6)]


def test_a_recorder_that_raises_stops_the_apply_before_the_next_change() -> None:
    driver, time = ScriptedDriver(), VirtualTime()

    def refuse(outcome: Outcome) -> None:
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError, match="lease lost"):
        apply_changes(
            [change("a", kind="Namespace"), change("b")],
            drivers={Platform.KUBERNETES: driver},
            app_depends={},
            record=refuse,
            sleep=time.sleep,
            clock=time.clock,
        )
    assert driver.order == ["a"]
