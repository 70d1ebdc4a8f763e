"""Cloud-init user data and metadata that make a cloned VM run an app's container.

Called by ``planner.rendering.vms``. Secret values never appear here: at boot the VM unwraps a
single-use Vault token that the vSphere driver writes into guestinfo at apply time.
"""

from __future__ import annotations

from typing import Any

import yaml

from core.hashing import canonical_json, sha256_hex
from planner.manifests import Application
from planner.rendering.common import SecretEnv, plain_env

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
