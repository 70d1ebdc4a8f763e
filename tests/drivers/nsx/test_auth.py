"""The NSX driver authenticates with basic auth or a session cookie plus XSRF token."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import FatalError
from drivers.nsx import NsxDriver
from drivers.protocol import Scope
from simulators.nsx import NsxSimulator
from tests.drivers.contract import plan_changes
from tests.drivers.nsx.scenario import render

MakeDriver = Callable[..., NsxDriver]
CREATE = ("POST", "/api/session/create")


def test_a_session_is_created_once_and_its_xsrf_token_carries_the_writes(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    driver = make_driver(auth="session")
    applied = driver.apply_many(plan_changes(render(scope, "shop"), []))
    assert all(item.wrote for item in applied)
    assert len(driver.observe(scope)) == 5
    assert sim.requests[CREATE] == 1
    assert sim.requests[("PATCH", "/policy/api/v1/infra")] == 1


def test_an_expired_session_is_renewed_once(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    driver = make_driver(auth="session")
    driver.observe(scope)
    sim.expire_sessions()
    assert driver.apply(plan_changes(render(scope, "shop")[:1], [])[0]).wrote
    assert sim.requests[CREATE] == 2
    assert sum(driver.client.retries.values()) == 0  # renewal costs no retry attempt


@pytest.mark.parametrize("auth", ["basic", "session"])
def test_a_wrong_password_is_a_fatal_error(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope, auth: str
) -> None:
    with pytest.raises(FatalError, match="HTTP 403"):
        make_driver(auth=auth, password="wrong").observe(scope)
    assert sim.calls() == 1


def test_the_password_never_shows_in_the_settings_repr(make_driver: MakeDriver) -> None:
    driver = make_driver()
    assert driver.settings.password not in repr(driver.settings)
