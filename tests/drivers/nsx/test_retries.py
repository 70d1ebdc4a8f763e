"""The NSX client retries 429, 5xx, timeouts and resets with bounded, jittered backoff."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

import httpx
import pytest

from core.errors import FatalError, TransientError
from drivers.nsx import NsxDriver, NsxSettings
from drivers.protocol import Scope
from simulators.nsx import NsxSimulator
from tests.conftest import free_port
from tests.drivers.contract import plan_changes
from tests.drivers.nsx.conftest import FakeClock, settings_for
from tests.drivers.nsx.scenario import render

MakeDriver = Callable[..., NsxDriver]
HAPI = ("PATCH", "/policy/api/v1/infra")


@pytest.mark.parametrize(
    "answer",
    [
        (429, 0, 3, "429"),
        (503, 0, 7, "503"),
        (503, 0, None, "503"),
        (500, 607, None, "500"),
        (502, 0, None, "502"),
    ],
)
def test_overload_answers_are_retried_and_counted(
    sim: NsxSimulator,
    make_driver: MakeDriver,
    scope: Scope,
    clock: FakeClock,
    answer: tuple[int, int, int | None, str],
) -> None:
    status, error_code, retry_after, reason = answer
    sim.inject(status, times=2, retry_after=retry_after, error_code=error_code, method="PATCH")
    driver = make_driver()
    assert driver.apply(plan_changes(render(scope, "shop")[:1], [])[0]).wrote
    assert sum(driver.client.retries.values()) == 2
    assert sim.requests[HAPI] == 3
    backoffs = clock.sleeps[:2]
    if retry_after is not None:
        assert all(retry_after <= delay <= retry_after + 0.5 for delay in backoffs), backoffs
    else:
        assert 0 <= backoffs[0] <= 0.5
        assert 0 <= backoffs[1] <= 1.0
    assert any(key.startswith(reason) for key in driver.client.retries)


def test_retries_stop_at_the_limit_with_a_clear_transient_error(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope, clock: FakeClock
) -> None:
    sim.inject(503, times=100, retry_after=600, method="PATCH")
    driver = make_driver(max_attempts=4, max_backoff_seconds=20.0)
    with pytest.raises(TransientError, match="gave up after 4 attempts") as caught:
        driver.apply(plan_changes(render(scope, "shop")[:1], [])[0])
    assert "503" in caught.value.message
    assert sim.requests[HAPI] == 4
    assert len(clock.sleeps) == 3
    assert all(delay <= 20.0 * 1.25 for delay in clock.sleeps)  # Retry-After is capped


def test_backoff_is_jittered_and_grows() -> None:
    sleeps: list[float] = []
    port = free_port()  # nothing listens: every attempt is refused
    settings = NsxSettings(
        url=f"http://127.0.0.1:{port}",
        username="u",
        password="p",
        max_attempts=6,
        backoff_seconds=1.0,
    )
    driver = NsxDriver(settings, sleep=sleeps.append, rng=random.Random(3))
    with pytest.raises(TransientError) as caught:
        driver.observe(Scope("acme", "prod"))
    driver.close()
    assert isinstance(caught.value.__cause__, TransientError)
    assert not isinstance(caught.value, httpx.HTTPError)
    assert len(sleeps) == 5
    assert all(0 <= delay <= 2**n for n, delay in enumerate(sleeps))
    assert len(set(sleeps)) == 5
    assert driver.client.retries == {"connection": 5}


def test_a_timeout_is_retried_and_never_escapes_as_an_httpx_error() -> None:
    sleeps: list[float] = []
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        settings = NsxSettings(
            url=f"http://127.0.0.1:{port}",
            username="u",
            password="p",
            timeout_seconds=0.05,
            max_attempts=2,
        )
        driver = NsxDriver(settings, sleep=sleeps.append)
        try:
            with pytest.raises(TransientError, match="gave up after 2 attempts") as caught:
                driver.observe(Scope("acme", "prod"))
        finally:
            driver.close()
    assert not isinstance(caught.value, httpx.HTTPError)
    assert driver.client.retries == {"timeout": 1}
    assert len(sleeps) == 1


def test_bad_credentials_are_fatal_and_not_retried(sim: NsxSimulator, scope: Scope) -> None:
    driver = NsxDriver(settings_for(sim, password="wrong"), sleep=lambda _: None)
    with pytest.raises(FatalError, match="403"):
        driver.observe(scope)
    driver.close()
    assert sim.calls() == 1


def test_observe_follows_cursors_and_keeps_only_our_tagged_objects() -> None:
    with NsxSimulator(port=free_port(), page_size=2) as paged:
        scope, other = Scope("acme", "paged"), Scope("acme", "other")
        driver = NsxDriver(settings_for(paged), sleep=lambda _: None)
        changes = [c for app in ("a", "b", "c") for c in plan_changes(render(scope, app), [])]
        driver.apply_many(changes + plan_changes(render(other, "x"), []))
        with httpx.Client(
            base_url=paged.url + "/policy/api/v1", auth=(paged.username, paged.password)
        ) as client:
            client.patch("/infra/segments/untagged", json={"display_name": "by hand"})
        before = paged.calls("GET")
        observed = driver.observe(scope)
        assert len(observed) == 15
        assert {str(item.owner).split("/")[1] for item in observed} == {"paged"}
        # 5 kinds; 4 or 5 objects each (other envs too) on pages of 2; plus 3 policy reads
        driver.close()
        # 4 objects of each kind (5 segments) on pages of 2, plus one read per policy
        assert paged.calls("GET") - before == 2 + 2 + (2 + 3) + 2 + 3


@pytest.mark.parametrize("url", ["ftp://nsx.example", "not a url"])
def test_an_unusable_url_is_fatal_at_once(url: str) -> None:
    sleeps: list[float] = []
    driver = NsxDriver(NsxSettings(url=url, username="u", password="p"), sleep=sleeps.append)
    with pytest.raises(FatalError, match="not usable") as caught:
        driver.observe(Scope("acme", "prod"))
    driver.close()
    assert sleeps == []
    assert not isinstance(caught.value, httpx.HTTPError)
