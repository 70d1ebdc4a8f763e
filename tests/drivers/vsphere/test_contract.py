"""The vSphere driver keeps the shared driver contract against vcsim."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.vcsim.launcher import Vcsim
from tests.drivers.contract import CONTRACT_CHECKS, ContractCase
from tests.drivers.vsphere.scenario import changed, driver_for, scope_for, vm
from tests.simulators.vcsim.fixtures import fresh_folder


@pytest.fixture
def case(vcsim: Vcsim) -> ContractCase:
    folder = fresh_folder()
    desired = tuple(vm(folder, index) for index in range(3))
    updated = (
        changed(desired[0], cpu=4, memoryMiB=4096),  # hot-add was enabled at create
        changed(desired[1], annotation="resized by hand? no: by the repo", bootDiskGiB=30),
        changed(desired[2], guestinfo={"metadata": '{"instance-id": "two"}', "userdata": ""}),
    )
    return ContractCase(
        make_driver=lambda: driver_for(vcsim),
        scope=scope_for(folder),
        desired=desired,
        updated=updated,
    )


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_the_vsphere_driver_keeps_the_contract(
    check: Callable[[ContractCase], None], case: ContractCase
) -> None:
    check(case)
