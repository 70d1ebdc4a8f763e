"""What a reconfigure must change to reach the desired spec, and whether it needs a power cycle.

``VsphereDriver`` calls ``plan_reconfigure`` after a clone and on every update; it sends the
resulting ``ConfigSpec`` only when it is not empty, so a converged VM is never written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidRequest
from drivers.vsphere.inventory import VmRecord
from drivers.vsphere.sdk import vim
from drivers.vsphere.specs import (
    DISK_NAMES_KEY,
    KIB_PER_GIB,
    SECRET_TOKEN_KEY,
    data_disks,
    gib,
    guestinfo_options,
    read_guestinfo,
)

ON = "poweredOn"
SCSI_RESERVED_UNIT = 7  # the controller's own unit on a SCSI bus
SCSI_UNITS = 16


@dataclass(frozen=True)
class Reconfiguration:
    """A ``ConfigSpec`` (None when nothing differs), the spec fields it changes, and whether the
    running VM must be powered off for it."""

    spec: Any
    fields: tuple[str, ...]
    power_cycle: bool


def plan_reconfigure(
    record: VmRecord,
    wanted: Mapping[str, Any],
    *,
    resource: str,
    network_backing: Callable[[], Any],
    secret_token: str = "",
) -> Reconfiguration:
    """Compare a VM with its desired spec, field by field.

    Raises:
        InvalidRequest: a disk would shrink or disappear; that takes a replace, not an update.
    """
    spec = vim.vm.ConfigSpec()
    fields: list[str] = []
    if record.cpu != wanted["cpu"]:
        spec.numCPUs = int(wanted["cpu"])
        fields.append("cpu")
    if record.memory_mib != wanted["memoryMiB"]:
        spec.memoryMB = int(wanted["memoryMiB"])
        fields.append("memoryMiB")
    if record.annotation != wanted["annotation"]:
        spec.annotation = wanted["annotation"]
        fields.append("annotation")
    extra = _extra_config(record, wanted, secret_token=secret_token, fields=fields)
    devices = _device_changes(record, wanted, resource=resource, fields=fields)
    if wanted["network"] != ",".join(record.networks):
        devices.extend(_network_change(record, network_backing(), resource=resource))
        fields.append("network")
    if record.power_state != ON and not (record.cpu_hot_add and record.memory_hot_add):
        # Hot-add can only be switched while the VM is off; on, it lets later increases skip
        # the power cycle.
        spec.cpuHotAddEnabled = True
        spec.memoryHotAddEnabled = True
        fields.append("hotAdd")
    spec.extraConfig = [vim.option.OptionValue(key=k, value=v) for k, v in extra.items()]
    spec.deviceChange = devices
    power_cycle = _needs_power_cycle(record, wanted)
    return Reconfiguration(
        spec=spec if fields else None, fields=tuple(fields), power_cycle=power_cycle
    )


def _needs_power_cycle(record: VmRecord, wanted: Mapping[str, Any]) -> bool:
    if record.power_state != ON or wanted["powerState"] != ON:
        return False
    cpu, memory = int(wanted["cpu"]), int(wanted["memoryMiB"])
    return (
        cpu < record.cpu
        or memory < record.memory_mib
        or (cpu > record.cpu and not record.cpu_hot_add)
        or (memory > record.memory_mib and not record.memory_hot_add)
    )


def _extra_config(
    record: VmRecord, wanted: Mapping[str, Any], *, secret_token: str, fields: list[str]
) -> dict[str, str]:
    extra: dict[str, str] = {}
    desired_guestinfo = dict(wanted.get("guestinfo") or {})
    if read_guestinfo(record.extra) != {
        k: desired_guestinfo.get(k, "") for k in ("metadata", "userdata")
    }:
        extra.update(guestinfo_options(desired_guestinfo))
        fields.append("guestinfo")
    if secret_token:
        extra[SECRET_TOKEN_KEY] = secret_token
    names = ",".join(disk["name"] for disk in wanted.get("disks") or [])
    if record.extra.get(DISK_NAMES_KEY, "") != names and (names or DISK_NAMES_KEY in record.extra):
        extra[DISK_NAMES_KEY] = names
    return extra


def _device_changes(
    record: VmRecord, wanted: Mapping[str, Any], *, resource: str, fields: list[str]
) -> list[Any]:
    changes: list[Any] = []
    if not record.disks:
        raise InvalidRequest(f"{resource}: the VM has no disk", hint="check the template")
    boot = record.disks[0]
    if _grow(boot, float(wanted["bootDiskGiB"]), resource=resource, label="boot disk", to=changes):
        fields.append("bootDiskGiB")
    existing = record.disks[1:]
    desired_disks = list(wanted.get("disks") or [])
    if len(existing) > len(desired_disks):
        raise InvalidRequest(
            f"{resource}: the VM has {len(existing)} data disks, the spec {len(desired_disks)}",
            hint="removing a disk loses its data: replace the VM, or detach the disk by hand",
        )
    changed = [
        _grow(disk, float(item["sizeGiB"]), resource=resource, label=item["name"], to=changes)
        for disk, item in zip(existing, desired_disks, strict=False)
    ]
    units = _free_units(record)
    for item in desired_disks[len(existing) :]:
        changes.append(_new_disk(boot, size_gib=float(item["sizeGiB"]), unit=next(units)))
    if any(changed) or len(desired_disks) > len(existing) or _renamed(record, desired_disks):
        fields.append("disks")
    return changes


def _renamed(record: VmRecord, desired_disks: list[dict[str, Any]]) -> bool:
    return [d["name"] for d in data_disks(record)] != [d["name"] for d in desired_disks][
        : len(record.disks) - 1
    ]


def _grow(disk: Any, size_gib: float, *, resource: str, label: str, to: list[Any]) -> bool:
    want_kib = int(size_gib * KIB_PER_GIB)
    if want_kib == disk.capacityInKB:
        return False
    if want_kib < disk.capacityInKB:
        raise InvalidRequest(
            f"{resource}: {label} would shrink from {gib(disk.capacityInKB)} to {size_gib} GiB",
            hint="disks only grow; replace the VM to get a smaller disk",
        )
    disk = copy.copy(disk)  # the record's device stays as it was read
    disk.capacityInKB = want_kib
    to.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk))
    return True


def _free_units(record: VmRecord) -> Any:
    controller = record.disks[0].controllerKey
    # Every device counts: a CD-ROM may sit on the disks' controller.
    used = {unit for key, unit in record.units if key == controller}
    used |= {d.unitNumber for d in record.disks if d.controllerKey == controller}
    return iter(u for u in range(SCSI_UNITS) if u not in used and u != SCSI_RESERVED_UNIT)


def _new_disk(boot: Any, *, size_gib: float, unit: int) -> Any:
    backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
        diskMode="persistent", thinProvisioned=True
    )
    disk = vim.vm.device.VirtualDisk(
        key=-(100 + unit),
        controllerKey=boot.controllerKey,
        unitNumber=unit,
        capacityInKB=int(size_gib * KIB_PER_GIB),
        backing=backing,
    )
    return vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)


def _network_change(record: VmRecord, backing: Any, *, resource: str) -> list[Any]:
    if not record.nics:
        raise InvalidRequest(f"{resource}: the VM has no network card", hint="check the template")
    nic = copy.copy(record.nics[0])
    nic.backing = backing
    return [vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic)]


def network_backing(network: Any) -> Any:
    """The NIC backing that attaches to ``network``: a port group of a distributed switch, or a
    standard network."""
    if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        port = vim.dvs.PortConnection(
            portgroupKey=network.key, switchUuid=network.config.distributedVirtualSwitch.uuid
        )
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
        deviceName=network.name, network=network
    )
