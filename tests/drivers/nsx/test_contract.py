"""The NSX driver keeps the shared driver contract against the fake NSX, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from drivers.nsx import NsxDriver
from simulators.nsx import NsxSimulator
from tests.drivers.contract import CONTRACT_CHECKS, ContractCase
from tests.drivers.nsx.conftest import fresh_scope
from tests.drivers.nsx.scenario import render


@pytest.fixture(params=["basic", "session"])
def case(
    request: pytest.FixtureRequest, sim: NsxSimulator, make_driver: Callable[..., NsxDriver]
) -> Iterator[ContractCase]:
    scope = fresh_scope()
    yield ContractCase(
        make_driver=lambda: make_driver(auth=request.param),
        scope=scope,
        desired=tuple(render(scope, "shop")),
        updated=tuple(render(scope, "shop", changed=True)),
    )
    assert sim.paths("/infra/segments/") == [], "a check left objects behind"


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_nsx_driver_keeps_the_contract(
    check: Callable[[ContractCase], None], case: ContractCase
) -> None:
    check(case)
