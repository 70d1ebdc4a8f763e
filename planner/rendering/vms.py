"""vSphere virtual machines for the apps placed on VMs: one clone per replica, sized and booted.

Called by ``planner.rendering.render_placed``; the cloud-init text comes from ``cloudinit``.
"""

from __future__ import annotations

from core.resources import DesiredResource, JsonObject, Platform, ResourceRef
from planner.manifests import Application, VsphereSite
from planner.quantities import parse_bytes, parse_cpu_millicores
from planner.rendering import cloudinit
from planner.rendering.common import RenderContext, versions_text

MIB = 2**20
GIB = 2**30
# Sizes used when neither `vm` nor `resources` says: a small general-purpose VM.
DEFAULT_CPU = 2
DEFAULT_MEMORY_MIB = 2048
DEFAULT_BOOT_DISK_GIB = 40
MIN_MEMORY_MIB = 512


def _ceil_div(value: int, unit: int) -> int:
    return -(-value // unit)


def vm_cpu(app: Application) -> int:
    """vCPUs: ``vm.cpu``, else the CPU request rounded up to whole cores, else the default."""
    if app.spec.vm.cpu is not None:
        return app.spec.vm.cpu
    if app.spec.resources.cpu is not None:
        return max(1, _ceil_div(parse_cpu_millicores(app.spec.resources.cpu), 1000))
    return DEFAULT_CPU


def vm_memory_mib(app: Application) -> int:
    """Memory: ``vm.memoryMiB``, else the memory request in MiB (at least 512), else the default."""
    if app.spec.vm.memory_mib is not None:
        return app.spec.vm.memory_mib
    if app.spec.resources.memory is not None:
        return max(MIN_MEMORY_MIB, _ceil_div(parse_bytes(app.spec.resources.memory), MIB))
    return DEFAULT_MEMORY_MIB


def volume_gib(size: str) -> int:
    """A volume size in whole GiB, rounded up so a disk is never smaller than asked for."""
    return max(1, _ceil_div(parse_bytes(size), GIB))


def vm_names(ctx: RenderContext, app: str) -> list[str]:
    """The VM names of an app: ``<tenant>-<env>-<app>-<index>``, one per replica."""
    return [f"{ctx.prefix(app)}-{index}" for index in range(ctx.apps[app].spec.replicas)]


def _site(ctx: RenderContext) -> VsphereSite:
    site = ctx.settings.spec.sites.vsphere
    if site is None:
        raise AssertionError("placement checks that a vSphere site exists")  # pragma: no cover
    return site


def _spec(ctx: RenderContext, app: Application, *, name: str, owner: str, body: str) -> JsonObject:
    site = _site(ctx)
    versions = versions_text(ctx.secret_refs(app)) if ctx.secret_envs(app) else "none"
    userdata = cloudinit.user_data(body, owner=owner, versions=versions)
    return {
        "name": name,
        "datacenter": site.datacenter,
        "cluster": site.cluster,
        "folder": site.folder,
        "network": site.network,
        "template": site.template,
        "cpu": vm_cpu(app),
        "memoryMiB": vm_memory_mib(app),
        "bootDiskGiB": app.spec.vm.disk_gib or DEFAULT_BOOT_DISK_GIB,
        "disks": [{"name": v.name, "sizeGiB": volume_gib(v.size)} for v in app.spec.volumes],
        "annotation": f"Managed by RXT Deploy: {owner}",
        "guestinfo": {
            "metadata": cloudinit.meta_data(hostname=name, userdata=userdata),
            "userdata": userdata,
        },
        "powerState": "poweredOn",
    }


def render_app(
    ctx: RenderContext, app: Application, *, depends: tuple[ResourceRef, ...]
) -> list[DesiredResource]:
    """The app's VMs, each depending on ``depends`` (its NSX segment when there is one)."""
    found = []
    refs = ctx.secret_refs(app)
    body = cloudinit.cloud_config(app, secrets=ctx.secret_envs(app))
    for index, name in enumerate(vm_names(ctx, app.metadata.name)):
        owner = ctx.owner(app.metadata.name, f"vm-{index}")
        spec = _spec(ctx, app, name=name, owner=str(owner), body=body)
        ref = ResourceRef(Platform.VSPHERE, "VirtualMachine", name, _site(ctx).folder)
        found.append(
            DesiredResource(
                ref=ref,
                owner=owner,
                spec=spec,
                depends_on=depends,
                immutable=("template", "datacenter"),
                secrets=refs,
            )
        )
    return found
