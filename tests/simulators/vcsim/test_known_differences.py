"""Where vcsim (govmomi 0.24, Debian) differs from vCenter, each asserted as vcsim behaves today.

When a govmomi upgrade makes vcsim behave like vCenter, the matching row fails: update the row,
docs/simulators/vcsim.md, and the driver's workaround named in the row.
"""

from __future__ import annotations

import http.client
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pyVmomi import vim, vmodl

TEMPLATE_PATH = "DC0/vm/ubuntu-2404-docker"
_names = itertools.count()


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def _content(si: Any) -> Any:
    return si.RetrieveContent()


def _clone(si: Any, name: str, **config: Any) -> Any:
    content = _content(si)
    template = content.searchIndex.FindByInventoryPath(TEMPLATE_PATH)
    cluster = content.searchIndex.FindByInventoryPath("DC0/host/DC0_C0")
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(pool=cluster.resourcePool),
        powerOn=config.pop("powerOn", False),
        config=vim.vm.ConfigSpec(**config) if config else None,
    )
    task = template.CloneVM_Task(folder=template.parent, name=name, spec=spec)
    assert task.info.state == "success", task.info.error
    return task.info.result


def _wait(task: Any) -> Any:
    assert task.info.state == "success", task.info.error
    return task.info.result


def clone_ignores_the_config_spec(si: Any) -> Any:
    vm = _clone(si, _name("cfg"), numCPUs=4, memoryMB=4096, annotation="asked for")
    hardware = vm.config.hardware
    return (hardware.numCPU, hardware.memoryMB, vm.config.annotation)


def clone_ignores_power_on(si: Any) -> Any:
    return str(_clone(si, _name("pwr"), powerOn=True).runtime.powerState)


def duplicate_names_are_allowed(si: Any) -> Any:
    name = _name("dup")
    first, second = _clone(si, name), _clone(si, name)
    return (first.name == second.name, first._moId != second._moId)


def tasks_finish_at_once(si: Any) -> Any:
    vm = _clone(si, _name("task"))
    return str(vm.PowerOnVM_Task().info.state)


def set_custom_value_appends(si: Any) -> Any:
    manager = _content(si).customFieldsManager
    field = _name("rxt.probe")
    manager.AddCustomFieldDef(name=field, moType=vim.VirtualMachine)
    vm = _clone(si, _name("cv"))
    vm.setCustomValue(key=field, value="one")
    vm.setCustomValue(key=field, value="two")
    key = next(f.key for f in manager.field if f.name == field)
    return [v.value for v in vm.customValue if v.key == key]


def extra_config_appends(si: Any) -> Any:
    vm = _clone(si, _name("ec"))
    for value in ("one", "two", ""):
        option = vim.option.OptionValue(key="guestinfo.probe", value=value)
        _wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[option])))
    return [o.value for o in vm.config.extraConfig if o.key == "guestinfo.probe"]


def paging_is_ignored(si: Any) -> Any:
    content = _content(si)
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    collector = vmodl.query.PropertyCollector
    spec = collector.FilterSpec(
        objectSet=[
            collector.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[
                    collector.TraversalSpec(type=vim.view.ContainerView, path="view", skip=False)
                ],
            )
        ],
        propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])],
    )
    result = content.propertyCollector.RetrievePropertiesEx(
        specSet=[spec], options=collector.RetrieveOptions(maxObjects=1)
    )
    view.DestroyView()
    return (len(result.objects) > 1, result.token)


def hot_add_rules_are_not_enforced(si: Any) -> Any:
    vm = _clone(si, _name("hot"))
    _wait(vm.PowerOnVM_Task())
    spec = vim.vm.ConfigSpec(numCPUs=1 if vm.config.hardware.numCPU > 1 else 2, memoryMB=64)
    _wait(vm.ReconfigVM_Task(spec))
    return (bool(vm.config.cpuHotAddEnabled), str(vm.runtime.powerState))


def a_vm_lists_no_recent_tasks(si: Any) -> Any:
    vm = _clone(si, _name("recent"))
    _wait(vm.PowerOnVM_Task())
    return list(vm.recentTask)


def change_version_stays_empty(si: Any) -> Any:
    vm = _clone(si, _name("ver"))
    modified = vm.config.modified
    _wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(annotation="bumps the version")))
    return (vm.config.changeVersion, vm.config.modified > modified)


def reading_an_unset_property_drops_the_connection(si: Any) -> Any:
    # vCenter answers None for a template's resourcePool; vcsim's Fetch panics on it. The
    # driver reads through the property collector only, which reports unset properties fine.
    template = _content(si).searchIndex.FindByInventoryPath(TEMPLATE_PATH)
    try:
        return template.resourcePool
    except http.client.RemoteDisconnected:
        return "connection dropped"


DIFFERENCES: list[tuple[Callable[[Any], Any], Any, str]] = [
    (clone_ignores_the_config_spec, (1, 32, None), "vCenter applies 4 CPUs, 4096 MiB, the note"),
    (clone_ignores_power_on, "poweredOff", "vCenter powers the clone on"),
    (duplicate_names_are_allowed, (True, True), "vCenter raises DuplicateName"),
    (tasks_finish_at_once, "success", "vCenter returns a queued or running task"),
    (set_custom_value_appends, ["one", "two"], "vCenter keeps only 'two'"),
    (extra_config_appends, ["one", "two", ""], "vCenter upserts; an empty value deletes"),
    (paging_is_ignored, (True, None), "vCenter returns one object and a token"),
    (hot_add_rules_are_not_enforced, (False, "poweredOn"), "vCenter refuses without hot-add"),
    (a_vm_lists_no_recent_tasks, [], "vCenter lists the VM's queued and running tasks"),
    (change_version_stays_empty, ("", True), "vCenter bumps changeVersion on reconfigure"),
    (reading_an_unset_property_drops_the_connection, "connection dropped", "vCenter: None"),
]


@pytest.mark.parametrize(
    ("probe", "vcsim_does", "vcenter_does"),
    DIFFERENCES,
    ids=[probe.__name__ for probe, _, _ in DIFFERENCES],
)
def test_vcsim_still_differs_from_vcenter(
    probe: Callable[[Any], Any], vcsim_does: Any, vcenter_does: str, si: Any
) -> None:
    assert probe(si) == vcsim_does, f"vcsim changed; {vcenter_does}: update the table and docs"
