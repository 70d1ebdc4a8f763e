"""Desired VMs as the planner renders them (docs/resource-specs.md), and drivers wired to vcsim."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.resources import DesiredResource, OwnerKey, Platform, ResourceRef, SecretRef
from drivers.protocol import Scope
from drivers.vsphere import VsphereDriver
from simulators.vcsim.launcher import Vcsim

TENANT, ENVIRONMENT = "acme", "prod"


def driver_for(sim: Vcsim, **options: Any) -> VsphereDriver:
    """A new driver (a new session) on the simulator."""
    return VsphereDriver(
        sim.host, port=sim.port, user=sim.username, password=sim.password, protocol="http",
        **options,
    )  # fmt: skip


def scope_for(folder: str) -> Scope:
    return Scope(TENANT, ENVIRONMENT, {"datacenter": "DC0", "cluster": "DC0_C0", "folder": folder})


def vm(
    folder: str,
    index: int,
    *,
    app: str = "payments",
    secrets: tuple[SecretRef, ...] = (),
    **changes: Any,
) -> DesiredResource:
    """The desired VM ``index`` of ``app`` in ``folder``; keyword arguments override spec fields."""
    name = f"{TENANT}-{ENVIRONMENT}-{app}-{index}"
    owner = OwnerKey(TENANT, ENVIRONMENT, app, f"vm-{index}")
    spec: dict[str, Any] = {
        "name": name,
        "datacenter": "DC0",
        "cluster": "DC0_C0",
        "folder": folder,
        "network": "VM Network",
        "template": "ubuntu-2404-docker",
        "cpu": 2,
        "memoryMiB": 2048,
        "bootDiskGiB": 20,
        "disks": [{"name": "data", "sizeGiB": 10}],
        "annotation": f"Managed by RXT Deploy: {owner}",
        "guestinfo": {
            "metadata": f'{{"instance-id": "{name}-1", "local-hostname": "{name}"}}',
            "userdata": "#cloud-config\npackages: [docker.io]\n",
        },
        "powerState": "poweredOn",
    }
    spec.update(changes)
    ref = ResourceRef(Platform.VSPHERE, "VirtualMachine", name, scope=folder)
    return DesiredResource(ref, owner, spec, immutable=("template", "datacenter"), secrets=secrets)


def changed(desired: DesiredResource, **changes: Any) -> DesiredResource:
    """The same VM with some spec fields changed."""
    return replace(desired, spec={**desired.spec, **changes})
