"""A fake NSX per test and a raw HTTP client for it, so tests see the wire as NSX clients do."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators.nsx import NsxSimulator
from tests.conftest import free_port


@pytest.fixture
def sim() -> Iterator[NsxSimulator]:
    simulator = NsxSimulator(port=free_port(), page_size=3).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def api(sim: NsxSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url + "/policy/api/v1", auth=(sim.username, sim.password)
    ) as client:
        yield client
