"""Which hardware changes a running VM takes hot, and which need a power cycle."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.vsphere.configuring import plan_reconfigure
from drivers.vsphere.specs import guestinfo_options
from tests.drivers.vsphere.test_specs import record


class Disk:
    """The two fields of a virtual disk the planner reads."""

    def __init__(self, capacity_gib: int, unit: int) -> None:
        self.capacityInKB = capacity_gib * 1024 * 1024
        self.controllerKey, self.unitNumber, self.key = 1000, unit, 2000 + unit


WANTED: dict[str, Any] = {
    "cpu": 2, "memoryMiB": 2048, "annotation": "", "network": "VM Network",
    "bootDiskGiB": 20, "disks": [], "guestinfo": {"metadata": "", "userdata": ""},
    "powerState": "poweredOn",
}  # fmt: skip


def plan(*, power: str = "poweredOn", hot_add: bool = True, **wanted: Any) -> Any:
    current = record(
        power_state=power, cpu_hot_add=hot_add, memory_hot_add=hot_add,
        disks=(Disk(20, 0),), extra=guestinfo_options({}),
    )  # fmt: skip
    return plan_reconfigure(
        current, {**WANTED, **wanted}, resource="vm", network_backing=lambda: None
    )


@pytest.mark.parametrize(
    ("power", "hot_add", "change", "cycle"),
    [
        ("poweredOn", True, {"cpu": 4}, False),
        ("poweredOn", True, {"memoryMiB": 4096}, False),
        ("poweredOn", False, {"cpu": 4}, True),
        ("poweredOn", False, {"memoryMiB": 4096}, True),
        ("poweredOn", True, {"cpu": 1}, True),
        ("poweredOn", True, {"memoryMiB": 1024}, True),
        ("poweredOff", False, {"cpu": 1}, False),
        ("poweredOn", False, {"cpu": 1, "powerState": "poweredOff"}, False),
        ("poweredOn", False, {"annotation": "a note"}, False),
    ],
)
def test_a_power_cycle_is_needed_only_where_hot_changes_are_impossible(
    power: str, hot_add: bool, change: dict[str, Any], cycle: bool
) -> None:
    assert plan(power=power, hot_add=hot_add, **change).power_cycle is cycle


def test_a_vm_already_as_wanted_needs_no_reconfigure() -> None:
    converged = plan()
    assert (converged.spec, converged.fields) == (None, ())


def test_hot_add_is_switched_on_while_the_vm_is_off() -> None:
    off = plan(power="poweredOff", hot_add=False)
    assert off.fields == ("hotAdd",)
    assert (off.spec.cpuHotAddEnabled, off.spec.memoryHotAddEnabled) == (True, True)


def test_a_new_data_disk_goes_on_a_free_unit_of_the_boot_disks_controller() -> None:
    grown = plan(disks=[{"name": "data", "sizeGiB": 10}])
    [added] = grown.spec.deviceChange
    assert (added.operation, added.fileOperation) == ("add", "create")
    assert (added.device.controllerKey, added.device.unitNumber) == (1000, 1)
    assert added.device.capacityInKB == 10 * 1024 * 1024
    assert "disks" in grown.fields
