"""Applying against vcsim: what a create writes, power cycles, deletes, secrets, refusals."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pytest
from pyVmomi import vim

from core.errors import FatalError, InvalidRequest
from core.resources import Action, Change, DesiredResource, SecretRef
from drivers.vsphere import PowerCycleRequired, VsphereDriver
from simulators.vcsim.launcher import Vcsim
from tests.drivers.vsphere.scenario import changed, driver_for, scope_for, vm
from tests.simulators.vcsim.fixtures import fresh_folder

CANARY = "canary-value-that-must-never-reach-vcenter"


class RecordingSecrets:
    """A secret source that hands out a fixed wrapping token and records what it was asked."""

    def __init__(self) -> None:
        self.wrapped: list[tuple[tuple[SecretRef, ...], str, int]] = []

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        return 1

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        return CANARY

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        self.wrapped.append((tuple(refs), tenant, ttl_seconds))
        return f"hvs.wrapped-{len(self.wrapped)}"


def _create(driver: VsphereDriver, desired: DesiredResource, **kwargs: Any) -> Any:
    return driver.apply(
        Change(Action.CREATE, desired.ref, desired.owner, desired=desired), **kwargs
    )


def _update(driver: VsphereDriver, desired: DesiredResource, *, approved: bool = False) -> Any:
    change = Change(
        Action.UPDATE,
        desired.ref,
        desired.owner,
        desired,
        needs_approval=approved,
        approved=approved,
    )
    return driver.apply(change)


def _find(si: Any, desired: DesiredResource) -> Any:
    path = f"DC0/vm/{desired.ref.scope}/{desired.ref.name}"
    return si.RetrieveContent().searchIndex.FindByInventoryPath(path)


def _extra(machine: Any) -> dict[str, str]:
    return {option.key: option.value for option in machine.config.extraConfig}


def _wait(task: Any) -> None:
    assert task.info.state == "success", task.info.error


def test_a_create_writes_hardware_guestinfo_markers_and_powers_on(vcsim: Vcsim, si: Any) -> None:
    desired = vm(fresh_folder(), 0, cpu=4, memoryMiB=4096)
    with driver_for(vcsim) as driver:
        applied = _create(driver, desired)
    machine = _find(si, desired)
    config, extra = machine.config, _extra(machine)
    assert applied.external_id == machine._moId
    assert (config.hardware.numCPU, config.hardware.memoryMB) == (4, 4096)
    assert config.annotation == desired.spec["annotation"]
    assert (config.cpuHotAddEnabled, config.memoryHotAddEnabled) == (True, True)
    userdata = desired.spec["guestinfo"]["userdata"]
    assert base64.b64decode(extra["guestinfo.userdata"]).decode() == userdata
    assert extra["guestinfo.userdata.encoding"] == "base64"
    assert str(machine.runtime.powerState) == "poweredOn"
    fields = {f.key: f.name for f in si.RetrieveContent().customFieldsManager.field}
    attributes = {fields[v.key]: v.value for v in machine.customValue}
    assert attributes == {"rxt.owner": str(desired.owner), "rxt.spec-hash": desired.digest}


def test_a_dry_run_create_validates_and_keeps_nothing(vcsim: Vcsim, si: Any) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        assert _create(driver, desired, dry_run=True).wrote
        missing = changed(desired, template="no-such-template")
        with pytest.raises(InvalidRequest, match="DC0/vm/no-such-template does not exist"):
            _create(driver, missing, dry_run=True)
    assert _find(si, desired) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"cpu": 1}, "fewer CPUs"),
        ({"memoryMiB": 1024}, "less memory"),
    ],
)
def test_a_shrink_of_a_running_vm_needs_an_approved_power_cycle(
    change: dict[str, int], why: str, vcsim: Vcsim, si: Any
) -> None:
    desired = vm(fresh_folder(), 0)
    smaller = changed(desired, **change)
    with driver_for(vcsim) as driver:
        _create(driver, desired)
        with pytest.raises(PowerCycleRequired, match="needs the running VM powered off"):
            _update(driver, smaller)
        machine = _find(si, desired)
        assert machine.config.hardware.numCPU == desired.spec["cpu"], why
        applied = _update(driver, smaller, approved=True)
        assert applied.detail["powerCycled"] is True
        [observed] = driver.observe(scope_for(desired.ref.scope))
    assert observed.digest == smaller.digest
    assert str(machine.runtime.powerState) == "poweredOn"


def test_growing_a_running_vm_without_hot_add_needs_a_power_cycle(vcsim: Vcsim, si: Any) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        _create(driver, desired)
        machine = _find(si, desired)
        _wait(machine.PowerOffVM_Task())
        spec = vim.vm.ConfigSpec(cpuHotAddEnabled=False, memoryHotAddEnabled=False)
        _wait(machine.ReconfigVM_Task(spec))
        _wait(machine.PowerOnVM_Task())
        with pytest.raises(PowerCycleRequired):
            _update(driver, changed(desired, cpu=8))
        assert _update(driver, changed(desired, memoryMiB=2048)).wrote is False
        assert _update(driver, changed(desired, cpu=8), approved=True).detail["powerCycled"]
    # switched on while the VM was off for the cycle: the next increase needs none
    assert (machine.config.cpuHotAddEnabled, machine.config.memoryHotAddEnabled) == (True, True)


def test_growing_a_running_vm_with_hot_add_needs_no_power_cycle(vcsim: Vcsim) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        _create(driver, desired)
        applied = _update(driver, changed(desired, cpu=8, memoryMiB=8192))
    assert applied.wrote
    assert "powerCycled" not in applied.detail
    assert set(applied.detail["changed"]) == {"cpu", "memoryMiB"}


def test_disks_grow_and_are_added_but_never_shrink(vcsim: Vcsim) -> None:
    desired = vm(fresh_folder(), 0)
    grown = changed(
        desired,
        bootDiskGiB=40,
        disks=[{"name": "data", "sizeGiB": 20}, {"name": "logs", "sizeGiB": 5}],
    )
    with driver_for(vcsim) as driver:
        _create(driver, desired)
        _update(driver, grown)
        [observed] = driver.observe(scope_for(desired.ref.scope))
        assert observed.spec["disks"] == grown.spec["disks"]
        assert observed.spec["bootDiskGiB"] == 40
        with pytest.raises(InvalidRequest, match="boot disk would shrink"):
            _update(driver, changed(grown, bootDiskGiB=30))


def test_deleting_powers_off_and_destroys_and_a_missing_vm_is_done(vcsim: Vcsim, si: Any) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        _create(driver, desired)
        [observed] = driver.observe(scope_for(desired.ref.scope))
        delete = Change(Action.DELETE, desired.ref, desired.owner, observed=observed)
        assert driver.apply(delete, dry_run=True).wrote
        assert _find(si, desired) is not None
        assert driver.apply(delete).wrote
        assert _find(si, desired) is None
        assert driver.apply(delete).wrote is False
        elsewhere = Change(
            Action.DELETE, desired.ref.__class__(desired.ref.platform, "VirtualMachine",
            desired.ref.name, scope="no-such-folder"), desired.owner, observed=observed,
        )  # fmt: skip
        assert driver.apply(elsewhere).wrote is False


def test_a_replace_destroys_the_vm_and_clones_a_new_one(vcsim: Vcsim) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        first = _create(driver, desired).external_id
        replacing = Change(Action.REPLACE, desired.ref, desired.owner, desired=desired)
        second = driver.apply(replacing).external_id
        observed = driver.observe(scope_for(desired.ref.scope))
    assert first != second
    assert [item.external_id for item in observed] == [second]


def test_a_replace_from_a_missing_template_keeps_the_old_vm(vcsim: Vcsim) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        first = _create(driver, desired).external_id
        broken = changed(desired, template="no-such-template")
        with pytest.raises(InvalidRequest, match="no-such-template does not exist"):
            driver.apply(Change(Action.REPLACE, desired.ref, desired.owner, desired=broken))
        observed = driver.observe(scope_for(desired.ref.scope))
    assert [item.external_id for item in observed] == [first]


def test_secrets_reach_the_vm_only_as_a_wrapping_token(vcsim: Vcsim, si: Any) -> None:
    refs = (SecretRef("tenants/acme/prod/payments/db", "password"),)
    desired = vm(fresh_folder(), 0, secrets=refs)
    secrets = RecordingSecrets()
    address = "https://vault.acme.example:8200"
    with driver_for(vcsim, secrets=secrets, vault_address=address) as driver:
        _create(driver, desired)
        assert _create(driver, desired).wrote is False  # no new token on a converged VM
    extra = _extra(_find(si, desired))
    assert extra["guestinfo.rxt.secret-token"] == "hvs.wrapped-1"
    assert extra["guestinfo.rxt.vault-addr"] == address  # where the VM unwraps it
    assert [(list(r), tenant) for r, tenant, _ in secrets.wrapped] == [(list(refs), "acme")]
    assert not any(CANARY in str(value) for value in extra.values())


def test_secrets_without_a_secret_source_are_refused_naming_the_refs(vcsim: Vcsim, si: Any) -> None:
    refs = (SecretRef("tenants/acme/prod/payments/db", "password"),)
    desired = vm(fresh_folder(), 0, secrets=refs)
    with driver_for(vcsim) as driver, pytest.raises(FatalError) as caught:
        _create(driver, desired)
    assert "tenants/acme/prod/payments/db#password" in caught.value.message
    assert _find(si, desired) is None


def test_health_is_ready_once_the_vm_runs(vcsim: Vcsim) -> None:
    desired = vm(fresh_folder(), 0)
    with driver_for(vcsim) as driver:
        assert driver.health(desired.ref).ready is False
        _create(driver, desired)
        assert driver.health(desired.ref).ready is True


def test_a_wrong_password_is_a_fatal_login_error(vcsim: Vcsim) -> None:
    driver = VsphereDriver(
        vcsim.host, port=vcsim.port, user=vcsim.username, password="wrong", protocol="http"
    )
    with pytest.raises(FatalError, match="InvalidLogin"):
        driver.observe(scope_for("anything"))
