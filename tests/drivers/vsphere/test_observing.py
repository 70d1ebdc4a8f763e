"""Observation against vcsim: a few SOAP calls for any number of VMs, drift, ownership."""

from __future__ import annotations

import http.client
from typing import Any

import pytest
from pyVmomi import vim

from core.errors import OwnershipConflict, TransientError
from core.resources import Action, Change, DesiredResource, ObservedResource
from drivers.vsphere.specs import instance_uuid
from simulators.vcsim.launcher import Vcsim
from tests.drivers.vsphere.scenario import driver_for, scope_for, vm
from tests.simulators.vcsim.fixtures import fresh_folder


def _create(sim: Vcsim, desired: list[DesiredResource]) -> None:
    with driver_for(sim) as driver:
        for item in desired:
            driver.apply(Change(Action.CREATE, item.ref, item.owner, desired=item))


def _diff(observed: ObservedResource, desired: DesiredResource) -> set[str]:
    keys = set(observed.spec) | set(desired.spec)
    return {key for key in keys if observed.spec.get(key) != desired.spec.get(key)}


def _find(si: Any, folder: str, name: str) -> Any:
    return si.RetrieveContent().searchIndex.FindByInventoryPath(f"DC0/vm/{folder}/{name}")


def _wait(task: Any) -> None:
    assert task.info.state == "success", task.info.error


def _clone_by_hand(si: Any, folder: str, name: str, **config: Any) -> Any:
    index = si.RetrieveContent().searchIndex
    template = index.FindByInventoryPath("DC0/vm/ubuntu-2404-docker")
    pool = index.FindByInventoryPath("DC0/host/DC0_C0").resourcePool
    target = index.FindByInventoryPath(f"DC0/vm/{folder}")
    if target is None:
        target = index.FindByInventoryPath("DC0/vm").CreateFolder(name=folder)
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(pool=pool), config=vim.vm.ConfigSpec(**config)
    )
    task = template.CloneVM_Task(folder=target, name=name, spec=spec)
    _wait(task)
    return task.info.result


@pytest.mark.parametrize("count", [2, 12])
def test_observing_costs_the_same_few_soap_calls_for_any_number_of_vms(
    count: int, vcsim: Vcsim, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fresh_folder()
    _create(vcsim, [vm(folder, index) for index in range(count)])
    requests: list[str] = []
    send = http.client.HTTPConnection.request

    def counted(self: http.client.HTTPConnection, method: str, url: str, *a: Any, **k: Any) -> Any:
        requests.append(url)
        return send(self, method, url, *a, **k)

    with driver_for(vcsim) as driver:
        assert driver.observe(scope_for("no-such-folder")) == []  # logs in
        monkeypatch.setattr(http.client.HTTPConnection, "request", counted)
        before = driver.soap_calls
        observed = driver.observe(scope_for(folder))
        monkeypatch.undo()
        assert len(observed) == count
        assert len(requests) == driver.soap_calls - before
    # find the folder, create the view, read every VM's small properties, then the large ones
    # of the VMs not read before (all of them, the first time), destroy the view
    assert len(requests) == 5


def test_a_second_observation_rereads_large_properties_only_of_changed_vms(
    vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    desired = [vm(folder, index) for index in range(3)]
    _create(vcsim, desired)
    with driver_for(vcsim) as driver:
        driver.observe(scope_for(folder))
        before = driver.soap_calls
        driver.observe(scope_for(folder))
        assert driver.soap_calls - before == 4  # nothing changed: no second property read

        machine = _find(si, folder, desired[1].spec["name"])
        userdata = vim.option.OptionValue(key="guestinfo.userdata", value="#cloud-config\n")
        encoding = vim.option.OptionValue(key="guestinfo.userdata.encoding", value="")
        _wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[userdata, encoding])))
        before = driver.soap_calls
        observed = {item.ref.name: item for item in driver.observe(scope_for(folder))}
        assert driver.soap_calls - before == 5
    changed_vm = observed[desired[1].spec["name"]]
    assert _diff(changed_vm, desired[1]) == {"guestinfo"}
    assert changed_vm.spec["guestinfo"]["userdata"] == "#cloud-config\n"
    assert all(observed[d.spec["name"]].digest == d.digest for d in (desired[0], desired[2]))


def test_a_vm_changed_by_hand_shows_as_drift_of_exactly_those_fields(vcsim: Vcsim, si: Any) -> None:
    folder = fresh_folder()
    desired = vm(folder, 0)
    _create(vcsim, [desired])
    machine = _find(si, folder, desired.spec["name"])
    _wait(machine.PowerOffVM_Task())
    _wait(machine.ReconfigVM_Task(vim.vm.ConfigSpec(numCPUs=8, annotation="edited by hand")))

    with driver_for(vcsim) as driver:
        [observed] = driver.observe(scope_for(folder))
        assert observed.owner == desired.owner
        assert _diff(observed, desired) == {"cpu", "annotation", "powerState"}
        assert (observed.spec["cpu"], observed.spec["powerState"]) == (8, "poweredOff")
        assert observed.status["specHash"] == desired.digest  # what we last applied

        change = Change(Action.UPDATE, desired.ref, desired.owner, desired, observed)
        assert driver.apply(change).wrote
        [healed] = driver.observe(scope_for(folder))
    assert healed.digest == desired.digest


def test_a_vm_with_our_name_but_no_marker_is_a_conflict_and_never_touched(
    vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    desired = vm(folder, 0)
    stranger = _clone_by_hand(si, folder, desired.spec["name"])
    before = (stranger.config.hardware.numCPU, str(stranger.runtime.powerState))

    with driver_for(vcsim) as driver:
        [observed] = driver.observe(scope_for(folder))
        assert observed.owner is None
        assert observed.external_id == stranger._moId
        for change in (
            Change(Action.CREATE, desired.ref, desired.owner, desired=desired),
            Change(Action.DELETE, desired.ref, desired.owner, observed=observed),
        ):
            with pytest.raises(OwnershipConflict, match=r"no rxt\.owner marker"):
                driver.apply(change)
        assert [item.external_id for item in driver.observe(scope_for(folder))] == [stranger._moId]
    assert (stranger.config.hardware.numCPU, str(stranger.runtime.powerState)) == before


def test_a_vm_marked_by_another_owner_is_a_conflict_naming_that_owner(
    vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    desired = vm(folder, 0)
    _create(vcsim, [desired])
    machine = _find(si, folder, desired.spec["name"])
    machine.setCustomValue(key="rxt.owner", value="globex/prod/payments/vm-0")

    with driver_for(vcsim) as driver:
        [observed] = driver.observe(scope_for(folder))
        assert str(observed.owner) == "globex/prod/payments/vm-0"  # the last value wins
        with pytest.raises(OwnershipConflict, match="owned by globex/prod/payments/vm-0"):
            driver.apply(Change(Action.CREATE, desired.ref, desired.owner, desired=desired))


@pytest.mark.parametrize(
    ("uuid_matches", "owned"),
    [(True, True), (False, False)],
    ids=["deterministic-uuid", "foreign-uuid"],
)
def test_a_clone_cut_off_before_its_attributes_is_ours_only_with_our_instance_uuid(
    uuid_matches: bool, owned: bool, vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    desired = vm(folder, 0)
    uuid = instance_uuid(desired.owner) if uuid_matches else "11111111-2222-3333-4444-555555555555"
    # what the driver's clone call writes, before the run dies
    markers = [
        vim.option.OptionValue(key="rxt.owner", value=str(desired.owner)),
        vim.option.OptionValue(key="rxt.template", value="ubuntu-2404-docker"),
    ]
    _clone_by_hand(si, folder, desired.spec["name"], instanceUuid=uuid, extraConfig=markers)

    with driver_for(vcsim) as driver:
        [observed] = driver.observe(scope_for(folder))
        assert (observed.owner == desired.owner) is owned
        if owned:
            assert observed.status["markedBy"] == "clone"
            driver.apply(Change(Action.CREATE, desired.ref, desired.owner, desired=desired))
            [done] = driver.observe(scope_for(folder))
            assert done.status["markedBy"] == "attribute"
            assert done.digest == desired.digest


def test_templates_and_unrelated_vms_are_not_observed(vcsim: Vcsim, si: Any) -> None:
    folder = fresh_folder()
    _clone_by_hand(si, folder, "someone-elses-vm")
    template = _clone_by_hand(si, folder, "acme-prod-golden")
    template.MarkAsTemplate()
    _create(vcsim, [vm(folder, 0)])

    with driver_for(vcsim) as driver:
        observed = driver.observe(scope_for(folder))
        assert [item.ref.name for item in observed] == ["acme-prod-payments-0"]
        assert driver.observe(scope_for("no-such-folder")) == []


def test_a_vm_moved_into_a_subfolder_by_hand_is_moved_back_not_cloned_again(
    vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    desired = vm(folder, 0)
    _create(vcsim, [desired])
    machine = _find(si, folder, desired.spec["name"])
    home = si.RetrieveContent().searchIndex.FindByInventoryPath(f"DC0/vm/{folder}")
    _wait(home.CreateFolder(name="parked").MoveIntoFolder_Task(list=[machine]))

    with driver_for(vcsim) as driver:
        [observed] = driver.observe(scope_for(folder))
        assert observed.spec["folder"] == f"{folder}/parked"
        change = Change(Action.UPDATE, desired.ref, desired.owner, desired, observed)
        assert driver.apply(change).detail["changed"] == ["folder"]
        [moved] = driver.observe(scope_for(folder))
    assert moved.external_id == machine._moId
    assert moved.digest == desired.digest


def test_an_expired_session_fails_once_as_transient_then_logs_in_again(
    vcsim: Vcsim, si: Any
) -> None:
    folder = fresh_folder()
    _create(vcsim, [vm(folder, 0)])
    manager = si.RetrieveContent().sessionManager
    with driver_for(vcsim) as driver:
        assert len(driver.observe(scope_for(folder))) == 1
        mine = manager.currentSession.key
        others = [s.key for s in manager.sessionList if s.key != mine]
        manager.TerminateSession(sessionId=others)  # what vCenter does to an idle session
        with pytest.raises(TransientError, match="NotAuthenticated"):
            driver.observe(scope_for(folder))
        assert len(driver.observe(scope_for(folder))) == 1
