"""Bar R4 for the NSX driver: a fault proxy in front of the fake NSX; applies still converge.

Run with ``-s`` to see the retry counts each run prints.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest

from core.errors import TransientError
from drivers.nsx import NsxDriver
from drivers.protocol import Scope
from simulators.faults import FaultProxy
from simulators.nsx import NsxSimulator
from tests.conftest import free_port
from tests.drivers.nsx.conftest import FakeClock, settings_for
from tests.drivers.nsx.scenario import Outcome, reconcile, render

APPS = 4


@pytest.fixture
def proxied(sim: NsxSimulator, request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    rate = request.param
    with FaultProxy(sim.url, rate=rate, stall_seconds=0.3, seed=11, port=free_port()) as proxy:
        yield proxy


def driver_behind(
    proxy: FaultProxy, sim: NsxSimulator, clock: FakeClock, **overrides: object
) -> NsxDriver:
    settings = settings_for(sim, timeout_seconds=0.15, **overrides)
    settings = type(settings)(**{**settings.__dict__, "url": proxy.url})
    return NsxDriver(settings, sleep=clock.sleep, clock=clock, rng=random.Random(5))


def lifecycle(driver: NsxDriver, scope: Scope) -> list[Outcome]:
    """Create four apps, update them all, delete them all: 60 changes in all."""
    created = [d for i in range(APPS) for d in render(scope, f"app{i}", index=i)]
    updated = [d for i in range(APPS) for d in render(scope, f"app{i}", index=i, changed=True)]
    return [
        reconcile(driver, scope, created),
        reconcile(driver, scope, updated),
        reconcile(driver, scope, []),
    ]


@pytest.mark.parametrize("proxied", [0.01, 0.10], indirect=True, ids=["1%", "10%"])
def test_every_apply_converges_through_one_and_ten_percent_faults(
    sim: NsxSimulator, proxied: FaultProxy, clock: FakeClock, scope: Scope
) -> None:
    driver = driver_behind(proxied, sim, clock)
    try:
        outcomes = lifecycle(driver, scope)
    finally:
        driver.close()
    print(
        f"\nR4 at {proxied.faults.rate:.0%}: {proxied.requests} requests, injected "
        f"{dict(proxied.injected)}, retries {dict(driver.client.retries)}, "
        f"cycles {[o.cycles for o in outcomes]}"
    )
    assert all(o.converged for o in outcomes), [o.errors for o in outcomes]
    assert sum(o.changes for o in outcomes) >= APPS * (5 + 3 + 5)  # updates touch 3 kinds
    assert sim.paths("/infra/segments/") == []
    # no retry storm: every retry answers one injected fault (or a 412 it caused)
    assert sum(driver.client.retries.values()) <= sum(proxied.injected.values())


@pytest.mark.parametrize("proxied", [0.30], indirect=True, ids=["30%"])
def test_thirty_percent_faults_end_in_a_clear_terminal_error_within_the_retry_limit(
    sim: NsxSimulator, proxied: FaultProxy, clock: FakeClock, scope: Scope
) -> None:
    driver = driver_behind(proxied, sim, clock, max_attempts=3)
    try:
        outcomes = lifecycle(driver, scope)
    finally:
        driver.close()
    errors = [e for o in outcomes for e in o.errors]
    print(
        f"\nR4 at 30%: {proxied.requests} requests, injected {dict(proxied.injected)}, "
        f"retries {dict(driver.client.retries)}, {len(errors)} terminal error(s), first: "
        f"{errors[0].render() if errors else '-'}"
    )
    assert errors, "30 % faults with 3 attempts should exhaust some request's retries"
    assert all(isinstance(e, TransientError) for e in errors)
    assert not any(isinstance(e.__cause__, httpx.HTTPError) for e in errors)
    assert any("gave up after 3 attempts" in e.message for e in errors)
    assert max(len(clock.sleeps), 1) <= proxied.requests  # bounded: no retry storm
