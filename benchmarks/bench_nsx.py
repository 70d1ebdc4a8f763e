"""NSX driver bars on the fake NSX: R2 idempotency, R4 behind the fault proxy, reads per object.

Run with ``python -m benchmarks nsx``; every figure comes from real HTTP on loopback.
"""

from __future__ import annotations

import random
import socket
from collections import Counter
from dataclasses import replace

from benchmarks.harness import Row, stopwatch
from core.errors import PlatformError, TransientError
from core.resources import DesiredResource
from drivers.nsx import NsxDriver, NsxSettings
from drivers.protocol import Scope
from simulators.faults import FaultProxy
from simulators.nsx import NsxSimulator
from tests.drivers.nsx.scenario import plan, reconcile, render

R2_APPS = 20
R4_APPS = 4


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(url: str, sim: NsxSimulator, **overrides: object) -> NsxSettings:
    base = NsxSettings(
        url=url,
        username=sim.username,
        password=sim.password,
        timeout_seconds=5.0,
        backoff_seconds=0.02,
        max_backoff_seconds=0.2,
        poll_seconds=0.005,
        realization_timeout_seconds=10.0,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _generated(scope: Scope, rng: random.Random, apps: int) -> list[DesiredResource]:
    """Apps chosen at random: some changed, some left out, so each round moves things."""
    chosen = [i for i in range(apps) if rng.random() < 0.8]
    return [
        item
        for i in chosen
        for item in render(scope, f"app{i}", index=i, changed=rng.random() < 0.5)
    ]


def _r2_idempotency() -> list[Row]:
    rng = random.Random(2026)
    scope = Scope("acme", "bench")
    rounds, empty_second, writes_on_replay = 0, 0, 0
    with NsxSimulator(port=_port()) as sim:
        driver = NsxDriver(_settings(sim.url, sim))
        with stopwatch() as took:
            for desired in [*(_generated(scope, rng, R2_APPS) for _ in range(4)), []]:
                changes = plan(desired, driver.observe(scope))
                for app in dict.fromkeys(c.owner.app for c in changes):
                    driver.apply_many([c for c in changes if c.owner.app == app])
                rounds += 1
                empty_second += plan(desired, driver.observe(scope)) == []
                replay = driver.apply_many([c for c in changes if c.desired is not None])
                writes_on_replay += sum(a.wrote for a in replay)
        calls_row = _reads_per_object(sim, driver, scope)
        driver.close()
    figures = (
        f"{rounds} rounds of {R2_APPS} generated apps: second plan empty in {empty_second}; "
        f"replayed applies wrote {writes_on_replay} times; {took[0]:.1f} s"
    )
    ok = empty_second == rounds and writes_on_replay == 0
    return [
        Row("R2", "NSX apply -> observe -> plan", figures, "every second plan empty", ok),
        calls_row,
    ]


def _reads_per_object(sim: NsxSimulator, driver: NsxDriver, scope: Scope) -> Row:
    desired = [d for i in range(R2_APPS) for d in render(scope, f"app{i}", index=i)]
    reconcile(driver, scope, desired)
    before = sim.calls("GET")
    observed = driver.observe(scope)
    calls = sim.calls("GET") - before
    ratio = calls / max(1, len(observed))
    reconcile(driver, scope, [])
    figures = f"{calls} GETs for {len(observed)} objects = {ratio:.2f} per object"
    target = "<= 0.25 (5 lists + 1 read per policy; P4's 0.1 is set for vSphere/Kubernetes)"
    return Row("P4 (NSX)", "NSX observe: API calls per object", figures, target, ratio <= 0.25)


def _r4(rate: float) -> Row:
    scope = Scope("acme", f"r4-{int(rate * 100)}")
    attempts = 3
    with (
        NsxSimulator(port=_port()) as sim,
        FaultProxy(sim.url, rate=rate, stall_seconds=0.3, seed=7, port=_port()) as proxy,
    ):
        settings = _settings(proxy.url, sim, timeout_seconds=0.15, max_attempts=attempts)
        driver = NsxDriver(settings)
        with stopwatch() as took:
            outcomes = [
                reconcile(
                    driver,
                    scope,
                    [
                        d
                        for i in range(R4_APPS)
                        for d in render(scope, f"app{i}", index=i, changed=changed)
                    ],
                )
                for changed in (False, True)
            ]
            outcomes.append(reconcile(driver, scope, []))
        retries = Counter(driver.client.retries)
        driver.close()
    errors: list[PlatformError] = [e for o in outcomes for e in o.errors]
    converged = all(o.converged for o in outcomes)
    clear = all(isinstance(e, TransientError) for e in errors)
    figures = (
        f"{proxy.requests} requests, {sum(proxy.injected.values())} faults injected, "
        f"retries {dict(sorted(retries.items()))}, cycles {[o.cycles for o in outcomes]}, "
        f"{len(errors)} terminal error(s), converged: {converged}, {took[0]:.1f} s"
    )
    if rate < 0.2:
        return Row(
            "R4", f"NSX behind fault proxy at {rate:.0%}", figures, "100 % converge", converged
        )
    target = "converge, or a clear transient error after 3 attempts"
    ok = clear and (converged or any("gave up after 3" in e.message for e in errors))
    return Row("R4", f"NSX behind fault proxy at {rate:.0%}", figures, target, ok)


def run() -> list[Row]:
    return [*_r2_idempotency(), *(_r4(rate) for rate in (0.01, 0.10, 0.30))]
