"""vSphere virtual machines for the apps placed on VMs: one clone per replica, sized, and booted
by cloud-init user data that runs the app's container.

Called by ``planner.rendering.render_placed``. Secret values never appear in user data: at boot
the VM unwraps a single-use Vault token that the vSphere driver writes into guestinfo at apply.
"""

from __future__ import annotations

from typing import Any

import yaml

from core.hashing import canonical_json, sha256_hex
from core.resources import DesiredResource, JsonObject, Platform, ResourceRef
from planner.manifests import Application, VsphereSite
from planner.quantities import parse_bytes, parse_cpu_millicores
from planner.rendering.common import RenderContext, SecretEnv, plain_env, versions_text

TOKEN_KEY = "guestinfo.rxt.secret-token"  # noqa: S105 - a key name, not a secret
VAULT_ADDR_KEY = "guestinfo.rxt.vault-addr"
SECRETS_FILE = "/var/lib/rxt/secrets.env"

# Runs once per boot before the container starts. The token is single-use and short-lived, so
# the values it opened are kept root-only on the VM's disk for restarts; a rotation re-runs
# cloud-init (its secret-versions line changes the instance id) and brings a fresh token.
FETCH_SCRIPT = f"""#!/bin/sh
# Unwrap this app's secrets from Vault with the single-use token left in guestinfo.
set -eu
umask 077
rpc() {{ vmware-rpctool "$1" 2>/dev/null || true; }}
token=$(rpc "info-get {TOKEN_KEY}")
addr=$(rpc "info-get {VAULT_ADDR_KEY}")
mkdir -p /var/lib/rxt
if [ -z "$token" ]; then
  [ -s {SECRETS_FILE} ] || [ ! -s /etc/rxt/secret-env ] || {{
    echo "rxt: no secret token in guestinfo and no secrets kept" >&2; exit 1; }}
  touch {SECRETS_FILE}
  exit 0
fi
curl -fsS -X POST -H "X-Vault-Token: $token" "$addr/v1/sys/wrapping/unwrap" \\
  -o /var/lib/rxt/unwrapped.json
rpc "info-set {TOKEN_KEY} spent"
python3 - /etc/rxt/secret-env /var/lib/rxt/unwrapped.json {SECRETS_FILE} <<'PY'
import json, sys
names = [line.split("=", 1) for line in open(sys.argv[1]).read().splitlines() if line]
values = json.load(open(sys.argv[2]))["data"]
with open(sys.argv[3], "w") as out:
    for name, ref in names:
        out.write(name + "=" + values[ref] + "\\n")
PY
rm -f /var/lib/rxt/unwrapped.json
"""


class _Dumper(yaml.CSafeDumper):  # libyaml's emitter: the pure-Python one costs ~20 ms a VM
    """Writes multi-line strings as literal blocks so user data stays readable in a plan."""


def _text(dumper: _Dumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: _Dumper, value: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, str) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)


def _device(index: int) -> str:
    """The device of the ``index``-th data disk: the boot disk is sda, volumes follow."""
    return f"/dev/sd{chr(ord('b') + index)}"


def _disks(app: Application) -> dict[str, Any]:
    if not app.spec.volumes:
        return {}
    devices = [_device(index) for index in range(len(app.spec.volumes))]
    return {
        "disk_setup": {
            dev: {"table_type": "gpt", "layout": True, "overwrite": False} for dev in devices
        },
        "fs_setup": [
            {"label": vol.name[:16], "filesystem": "ext4", "device": dev, "partition": "auto"}
            for vol, dev in zip(app.spec.volumes, devices, strict=True)
        ],
        "mounts": [
            [f"{dev}1", f"/mnt/rxt/{vol.name}", "ext4", "defaults,nofail", "0", "2"]
            for vol, dev in zip(app.spec.volumes, devices, strict=True)
        ],
    }


def _docker_run(app: Application) -> list[str]:
    name = app.metadata.name
    command = ["docker", "run", "-d", "--name", name, "--restart", "unless-stopped"]
    command += ["--env-file", "/etc/rxt/app.env", "--env-file", SECRETS_FILE]
    for port in app.spec.ports:
        command += ["-p", f"{port.port}:{port.port}/{port.protocol.lower()}"]
    for volume in app.spec.volumes:
        command += ["-v", f"/mnt/rxt/{volume.name}:{volume.mount_path}"]
    return [*command, app.spec.image]


def _env_file(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def cloud_config(app: Application, *, secrets: list[SecretEnv]) -> str:
    """The YAML body of an app's user data: env files, the secret fetcher, disks, the container.

    The same for every replica, so the renderer makes it once per app.
    """
    files = [
        {"path": "/etc/rxt/app.env", "permissions": "0644", "content": _env_file(plain_env(app))},
        {
            "path": "/etc/rxt/secret-env",
            "permissions": "0600",
            "content": "".join(f"{item.name}={item.ref}\n" for item in secrets),
        },
        {
            "path": "/usr/local/sbin/rxt-fetch-secrets",
            "permissions": "0700",
            "content": FETCH_SCRIPT,
        },
    ]
    name = app.metadata.name
    config: dict[str, Any] = {"write_files": files, **_disks(app)}
    config["runcmd"] = [
        ["/usr/local/sbin/rxt-fetch-secrets"],
        ["sh", "-c", f"docker rm -f {name} >/dev/null 2>&1 || true"],
        _docker_run(app),
    ]
    return str(yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=1000))


def user_data(body: str, *, owner: str, versions: str) -> str:
    """The ``#cloud-config`` text of one VM: a header naming its owner, then the app's body."""
    return f"#cloud-config\n# RXT Deploy: {owner}; secret versions: {versions}\n{body}"


def meta_data(*, hostname: str, userdata: str) -> str:
    """Cloud-init metadata; the instance id follows the user data, so a change re-runs it."""
    instance = f"{hostname}-{sha256_hex(userdata.encode())[:12]}"
    value = {"instance-id": instance, "local-hostname": hostname}
    return canonical_json(value).decode()


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
    userdata = user_data(body, owner=owner, versions=versions)
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
            "metadata": meta_data(hostname=name, userdata=userdata),
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
    body = cloud_config(app, secrets=ctx.secret_envs(app))
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
