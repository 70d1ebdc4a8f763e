"""Bulk reads of VMs: one ContainerView and one RetrievePropertiesEx (plus its continuation pages).

The property collector walks from each VM to its network, resource pool, cluster and folder in
the same request, and reads the custom field definitions alongside, so the names come back with
the VMs. ``VsphereDriver`` observes with ``read_folder`` and re-reads one VM with ``read_vm``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from drivers.vsphere.faults import translated
from drivers.vsphere.sdk import vim, vmodl
from drivers.vsphere.session import Session

PC = vmodl.query.PropertyCollector

VM_PROPERTIES = (
    "name",
    "parent",
    "resourcePool",
    "network",
    "customValue",
    "runtime.powerState",
    "config.template",
    "config.instanceUuid",
    "config.annotation",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.cpuHotAddEnabled",
    "config.memoryHotAddEnabled",
    "config.extraConfig",
    "recentTask",
)
PAGE_SIZE = 500


@dataclass(frozen=True)
class VmRecord:
    """What one bulk read says about one VM, with related names already resolved.

    ``vm`` is the pyVmomi managed object; it stays inside this package. ``attributes`` and
    ``extra`` hold the last value per key (vcsim appends instead of replacing).
    """

    vm: Any
    moref: str
    name: str
    folder: Any
    folder_name: str
    cluster: str
    networks: tuple[str, ...]
    power_state: str
    template: bool
    instance_uuid: str
    annotation: str
    cpu: int
    memory_mib: int
    disks: tuple[Any, ...]
    nics: tuple[Any, ...]
    cpu_hot_add: bool
    memory_hot_add: bool
    units: frozenset[tuple[int, int]]
    attributes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    recent_tasks: tuple[Any, ...] = ()


def read_folder(session: Session, folder: Any) -> list[VmRecord]:
    """Every VM below ``folder`` (recursively), in one property-collector round."""
    content = session.content
    with translated(resource=str(folder), doing="observing VMs"):
        view = content.viewManager.CreateContainerView(
            container=folder, type=[vim.VirtualMachine], recursive=True
        )
        try:
            root = PC.ObjectSpec(obj=view, skip=True, selectSet=[_view_traversal()])
            return _collect(session, root)
        finally:
            view.DestroyView()


def read_vm(session: Session, vm: Any) -> VmRecord | None:
    """One VM, read the same way; None when it no longer exists."""
    with translated(resource=str(vm), doing="reading the VM"):
        root = PC.ObjectSpec(obj=vm, skip=False, selectSet=list(_vm_traversals()))
        found = _collect(session, root)
    return found[0] if found else None


def last_per_key(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """Keep the last value of each key: vcsim appends on update where vCenter replaces."""
    result: dict[Any, Any] = {}
    for key, value in pairs:
        result[key] = value
    return result


def _view_traversal() -> Any:
    return PC.TraversalSpec(
        name="view", type=vim.view.ContainerView, path="view", skip=False,
        selectSet=list(_vm_traversals()),
    )  # fmt: skip


def _vm_traversals() -> Iterator[Any]:
    yield PC.TraversalSpec(type=vim.VirtualMachine, path="network", skip=False)
    yield PC.TraversalSpec(type=vim.VirtualMachine, path="parent", skip=False)
    to_owner = PC.TraversalSpec(type=vim.ResourcePool, path="owner", skip=False)
    yield PC.TraversalSpec(
        type=vim.VirtualMachine, path="resourcePool", skip=False, selectSet=[to_owner]
    )


def _filter(root: Any, custom_fields: Any) -> Any:
    return PC.FilterSpec(
        objectSet=[root, PC.ObjectSpec(obj=custom_fields, skip=False)],
        propSet=[
            PC.PropertySpec(type=vim.VirtualMachine, pathSet=list(VM_PROPERTIES)),
            PC.PropertySpec(type=vim.Network, pathSet=["name"]),
            PC.PropertySpec(type=vim.Folder, pathSet=["name"]),
            PC.PropertySpec(type=vim.ResourcePool, pathSet=["owner"]),
            PC.PropertySpec(type=vim.ComputeResource, pathSet=["name"]),
            PC.PropertySpec(type=vim.CustomFieldsManager, pathSet=["field"]),
        ],
    )


def _collect(session: Session, root: Any) -> list[VmRecord]:
    content = session.content
    collector = content.propertyCollector
    spec = _filter(root, content.customFieldsManager)
    objects = list(_pages(collector, spec))
    props = {str(item.obj): ({p.name: p.val for p in item.propSet}, item.obj) for item in objects}
    field_names = _field_names(props)
    return [
        _record(obj, values, props=props, field_names=field_names)
        for values, obj in props.values()
        if isinstance(obj, vim.VirtualMachine) and "name" in values
    ]


def _pages(collector: Any, spec: Any) -> Iterator[Any]:
    result = collector.RetrievePropertiesEx(
        specSet=[spec], options=PC.RetrieveOptions(maxObjects=PAGE_SIZE)
    )
    while result is not None:
        yield from result.objects
        if not result.token:
            return
        result = collector.ContinueRetrievePropertiesEx(token=result.token)


def _field_names(props: dict[str, tuple[dict[str, Any], Any]]) -> dict[int, str]:
    for values, obj in props.values():
        if isinstance(obj, vim.CustomFieldsManager):
            return {int(definition.key): definition.name for definition in values.get("field", [])}
    return {}


def _name_of(props: dict[str, tuple[dict[str, Any], Any]], obj: Any, key: str = "name") -> Any:
    if obj is None:
        return None
    values, _ = props.get(str(obj), ({}, None))
    return values.get(key)


def _record(
    vm: Any,
    values: dict[str, Any],
    *,
    props: dict[str, tuple[dict[str, Any], Any]],
    field_names: dict[int, str],
) -> VmRecord:
    devices = values.get("config.hardware.device") or []
    owner_of_pool = _name_of(props, values.get("resourcePool"), "owner")
    return VmRecord(
        vm=vm,
        moref=vm._moId,
        name=values["name"],
        folder=values.get("parent"),
        folder_name=_name_of(props, values.get("parent")) or "",
        cluster=_name_of(props, owner_of_pool) or "",
        networks=tuple(sorted({_name_of(props, net) or "" for net in values.get("network") or []})),
        power_state=str(values.get("runtime.powerState", "")),
        template=bool(values.get("config.template")),
        instance_uuid=values.get("config.instanceUuid") or "",
        annotation=values.get("config.annotation") or "",
        cpu=int(values.get("config.hardware.numCPU") or 0),
        memory_mib=int(values.get("config.hardware.memoryMB") or 0),
        disks=_sorted_devices(devices, vim.vm.device.VirtualDisk),
        nics=_sorted_devices(devices, vim.vm.device.VirtualEthernetCard),
        cpu_hot_add=bool(values.get("config.cpuHotAddEnabled")),
        memory_hot_add=bool(values.get("config.memoryHotAddEnabled")),
        units=frozenset(
            (d.controllerKey, d.unitNumber) for d in devices if d.unitNumber is not None
        ),
        attributes=last_per_key(
            (field_names.get(int(v.key), str(v.key)), str(v.value))
            for v in values.get("customValue") or []
        ),
        extra=last_per_key((o.key, str(o.value)) for o in values.get("config.extraConfig") or []),
        recent_tasks=tuple(values.get("recentTask") or ()),
    )


def _sorted_devices(devices: Iterable[Any], kind: type[Any]) -> tuple[Any, ...]:
    found = [device for device in devices if isinstance(device, kind)]
    return tuple(sorted(found, key=lambda d: (d.controllerKey or 0, d.unitNumber or 0, d.key)))
