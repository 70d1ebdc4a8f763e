"""A fake NSX per test, a fake clock for backoff and polling, and drivers wired to both."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from drivers.nsx import NsxDriver, NsxSettings
from drivers.protocol import Scope
from simulators.nsx import NsxSimulator
from tests.conftest import free_port

_environments = itertools.count()


class FakeClock:
    """Virtual time: ``sleep`` records the delay and moves ``now`` forward at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def sim() -> Iterator[NsxSimulator]:
    simulator = NsxSimulator(port=free_port()).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scope() -> Scope:
    return fresh_scope()


def fresh_scope() -> Scope:
    """A scope no other test uses, so every check starts with nothing of its own."""
    return Scope(tenant="acme", environment=f"e{next(_environments)}")


def settings_for(sim: NsxSimulator, **overrides: Any) -> NsxSettings:
    base = NsxSettings(
        url=sim.url,
        username=sim.username,
        password=sim.password,
        timeout_seconds=5.0,
        backoff_seconds=0.5,
        realization_timeout_seconds=60.0,
        poll_seconds=1.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def make_driver(sim: NsxSimulator, clock: FakeClock) -> Iterator[Callable[..., NsxDriver]]:
    made: list[NsxDriver] = []

    def make(**overrides: Any) -> NsxDriver:
        driver = NsxDriver(
            settings_for(sim, **overrides), sleep=clock.sleep, clock=clock, rng=random.Random(7)
        )
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()
