"""Bulk reads of VMs: one ContainerView and RetrievePropertiesEx (plus its continuation pages).

The property collector walks from each VM to its network, resource pool, cluster and folder in
the same request, and reads the custom field definitions alongside, so the names come back with
the VMs. The large properties (devices, extraConfig) are read again only for VMs whose
configuration version changed since the last read (``HeavyCache``). ``VsphereDriver`` observes
with ``read_folder`` and re-reads one VM with ``read_vm``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.errors import TransientError
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
# Large and changed only by a reconfigure, which bumps the configuration version.
HEAVY_PROPERTIES = ("config.hardware.device", "config.extraConfig")
# vCenter bumps changeVersion on every reconfigure; vcsim leaves it empty but sets modified.
VERSION_PROPERTIES = ("config.changeVersion", "config.modified")
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


class HeavyCache:
    """The devices and extraConfig of each VM last read, with the configuration version they
    were read at; a VM whose version is unchanged is not asked for them again."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[str, str], dict[str, Any]]] = {}

    def get(self, moref: str, version: tuple[str, str]) -> dict[str, Any] | None:
        entry = self._entries.get(moref)
        return entry[1] if entry is not None and entry[0] == version and any(version) else None

    def put(self, moref: str, version: tuple[str, str], heavy: dict[str, Any]) -> None:
        self._entries[moref] = (version, heavy)

    def keep_only(self, morefs: set[str]) -> None:
        for gone in set(self._entries) - morefs:
            del self._entries[gone]


def read_folder(
    session: Session, folder: Any, *, cache: HeavyCache | None = None
) -> list[VmRecord]:
    """Every VM below ``folder`` (recursively): one property-collector round for all VMs, and
    with a ``cache`` a second one for the large properties of VMs changed since the last read."""
    content = session.content
    with translated(resource=str(folder), doing="observing VMs"):
        view = content.viewManager.CreateContainerView(
            container=folder, type=[vim.VirtualMachine], recursive=True
        )
        try:
            root = PC.ObjectSpec(obj=view, skip=True, selectSet=[_view_traversal()])
            if cache is None:
                return _collect(session, root)
            return _collect(session, root, light=True, cache=cache)
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


def _filter(root: Any, custom_fields: Any, *, light: bool) -> Any:
    wanted = [p for p in VM_PROPERTIES if not (light and p in HEAVY_PROPERTIES)]
    return PC.FilterSpec(
        objectSet=[root, PC.ObjectSpec(obj=custom_fields, skip=False)],
        propSet=[
            PC.PropertySpec(type=vim.VirtualMachine, pathSet=[*wanted, *VERSION_PROPERTIES]),
            PC.PropertySpec(type=vim.Network, pathSet=["name"]),
            PC.PropertySpec(type=vim.Folder, pathSet=["name"]),
            PC.PropertySpec(type=vim.ResourcePool, pathSet=["owner"]),
            PC.PropertySpec(type=vim.ComputeResource, pathSet=["name"]),
            PC.PropertySpec(type=vim.CustomFieldsManager, pathSet=["field"]),
        ],
    )


def _collect(
    session: Session, root: Any, *, light: bool = False, cache: HeavyCache | None = None
) -> list[VmRecord]:
    content = session.content
    collector = content.propertyCollector
    spec = _filter(root, content.customFieldsManager, light=light)
    objects = list(_pages(collector, spec))
    props = {str(item.obj): ({p.name: p.val for p in item.propSet}, item.obj) for item in objects}
    if cache is not None:
        _fill_heavy(collector, props, cache)
    field_names = _field_names(props)
    return [
        _record(obj, values, props=props, field_names=field_names)
        for values, obj in props.values()
        if isinstance(obj, vim.VirtualMachine) and "name" in values
    ]


def _version(values: dict[str, Any]) -> tuple[str, str]:
    modified = values.get("config.modified")
    return (values.get("config.changeVersion") or "", modified.isoformat() if modified else "")


def _fill_heavy(
    collector: Any, props: dict[str, tuple[dict[str, Any], Any]], cache: HeavyCache
) -> None:
    """Add the large properties to each VM's values: from the cache when its configuration
    version is unchanged, else from one more RetrievePropertiesEx for all the changed VMs."""
    vms = {key: item for key, item in props.items() if isinstance(item[1], vim.VirtualMachine)}
    stale = [obj for key, (values, obj) in vms.items() if cache.get(key, _version(values)) is None]
    if stale:
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=obj, skip=False) for obj in stale],
            propSet=[
                PC.PropertySpec(
                    type=vim.VirtualMachine, pathSet=[*HEAVY_PROPERTIES, *VERSION_PROPERTIES]
                )
            ],
        )
        try:
            fresh = list(_pages(collector, spec))
        except vmodl.fault.ManagedObjectNotFound as gone:
            raise TransientError(
                "a VM was deleted while it was being observed",
                hint="observe again",
            ) from gone
        for item in fresh:
            values = {p.name: p.val for p in item.propSet}
            heavy = {name: values.get(name) for name in HEAVY_PROPERTIES}
            cache.put(str(item.obj), _version(values), heavy)
            vms[str(item.obj)][0].update(heavy)
    for key, (values, _) in vms.items():
        if HEAVY_PROPERTIES[0] not in values:
            values.update(cache.get(key, _version(values)) or {})
    cache.keep_only(set(vms))


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
