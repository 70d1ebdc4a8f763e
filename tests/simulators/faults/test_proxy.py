"""The fault proxy forwards faithfully, injects the faults it is told to, and counts them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators.faults import FaultProxy
from simulators.nsx import NsxSimulator
from tests.conftest import free_port

SEGMENTS = "/policy/api/v1/infra/segments"


@pytest.fixture
def sim() -> Iterator[NsxSimulator]:
    simulator = NsxSimulator(port=free_port()).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def client_for(proxy: FaultProxy, sim: NsxSimulator) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, auth=(sim.username, sim.password), timeout=0.3)


def test_without_faults_answers_pass_through_unchanged(sim: NsxSimulator) -> None:
    with FaultProxy(sim.url, rate=0.0, port=free_port()) as proxy, client_for(proxy, sim) as c:
        assert c.patch(f"{SEGMENTS}/a", json={"description": "x"}).status_code == 200
        direct = httpx.get(sim.url + f"{SEGMENTS}/a", auth=(sim.username, sim.password))
        via = c.get(f"{SEGMENTS}/a")
        assert (via.status_code, via.json()) == (200, direct.json())
        assert c.get(f"{SEGMENTS}/missing").json()["error_code"] == 600
        assert proxy.injected == {}
        assert proxy.requests == 3


@pytest.mark.parametrize(
    ("kind", "failure"),
    [("timeout", httpx.ReadTimeout), ("reset", httpx.TransportError)],
)
def test_stalls_and_resets_fail_the_request_at_the_transport(
    sim: NsxSimulator, kind: str, failure: type[Exception]
) -> None:
    with (
        FaultProxy(
            sim.url, rate=1.0, kinds=(kind,), stall_seconds=1.0, after_share=0.0, port=free_port()
        ) as proxy,
        client_for(proxy, sim) as client,
    ):
        with pytest.raises(failure):
            client.get(SEGMENTS)
        assert proxy.injected == {f"{kind}:before": 1}


def test_server_errors_are_answered_by_the_proxy(sim: NsxSimulator) -> None:
    with (
        FaultProxy(sim.url, rate=1.0, kinds=("5xx",), after_share=0.0, port=free_port()) as proxy,
        client_for(proxy, sim) as client,
    ):
        statuses = {client.get(SEGMENTS).status_code for _ in range(20)}
        assert statuses <= {500, 502, 503, 504}
        assert len(statuses) > 1
        assert proxy.injected == {"5xx:before": 20}
        assert sim.calls() == 0


def test_a_fault_after_the_upstream_loses_the_answer_but_keeps_the_write(
    sim: NsxSimulator,
) -> None:
    with (
        FaultProxy(sim.url, rate=1.0, kinds=("reset",), after_share=1.0, port=free_port()) as proxy,
        client_for(proxy, sim) as client,
    ):
        with pytest.raises(httpx.TransportError):
            client.patch(f"{SEGMENTS}/kept", json={})
        assert sim.paths("/infra/segments/") == ["/infra/segments/kept"]
        assert proxy.injected == {"reset:after": 1}


def test_the_share_of_faults_follows_the_rate_and_the_seed(sim: NsxSimulator) -> None:
    def run() -> tuple[int, dict[str, int]]:
        with (
            FaultProxy(sim.url, rate=0.1, kinds=("5xx",), seed=4, port=free_port()) as proxy,
            client_for(proxy, sim) as client,
        ):
            failed = sum(client.get(SEGMENTS).status_code >= 500 for _ in range(200))
            return failed, dict(proxy.injected)

    first, second = run(), run()
    assert first == second
    assert 8 <= first[0] <= 35
    assert sum(first[1].values()) == first[0]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown kinds"):
        FaultProxy("http://127.0.0.1:1", rate=0.1, kinds=("meteor",))
