"""The VM path end to end: the planner renders a VM, the vSphere driver puts only a wrapping token
in guestinfo on vcsim, and the VM's own fetch script, fed from that guestinfo, opens it once."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from core import logs
from core.errors import FatalError, NotFound, PlatformError
from core.resources import SecretRef
from drivers.vault import VaultSecretSource
from drivers.vault.redaction import encodings
from drivers.vsphere import VsphereDriver
from planner.views import OUTPUTS, render
from simulators.openbao import OpenBaoServer
from simulators.vcsim.launcher import Vcsim
from tests.integration.conftest import Capture, limited_token
from tests.integration.places import Places
from tests.integration.world import Repo, apply, plan, unwrap_as_a_vm, write_secret
from tests.simulators.vcsim.fixtures import fresh_folder

DB_PASSWORD = SecretRef("payments/db", "password")
TOKEN_KEY = "guestinfo.rxt.secret-token"
FETCHER = "/usr/local/sbin/rxt-fetch-secrets"

# Stands in for open-vm-tools' vmware-rpctool inside the guest: reads and writes guestinfo.
RPCTOOL = """\
import json, sys
path, (verb, _, rest) = sys.argv[1], sys.argv[2].partition(" ")
info = json.load(open(path))
key, _, value = rest.partition(" ")
if verb == "info-get":
    if key not in info:
        sys.exit("No value found")
    print(info[key])
else:
    info[key] = value
    json.dump(info, open(path, "w"))
"""


def vm_with_secrets(
    repo: Repo, *, vcsim: Vcsim, si: Any, source: VaultSecretSource
) -> dict[str, str]:
    """Plan and apply the repository's VM app; return the VM's extraConfig as vCenter holds it."""
    with VsphereDriver(
        vcsim.host, port=vcsim.port, user=vcsim.username, password=vcsim.password,
        protocol="http", secrets=source, vault_address=source.address,
    ) as driver:  # fmt: skip
        changes = plan(repo, driver=driver, source=source).changes
        apply(changes, driver=driver)
    vm = next(c.ref for c in changes if c.ref.kind == "VirtualMachine")
    path = f"DC0/vm/{repo.vm_folder}/{vm.name}"
    machine = si.RetrieveContent().searchIndex.FindByInventoryPath(path)
    return {option.key: str(option.value) for option in machine.config.extraConfig}


@pytest.fixture
def vm_repo(tmp_path: Path, tenant: str) -> Repo:
    repo = Repo(tmp_path / "repo", tenant, vm_folder=fresh_folder())
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})
    return repo


def test_guestinfo_holds_only_a_wrapping_token_that_opens_once(  # noqa: PLR0917 - fixtures
    admin: hvac.Client, openbao_server: OpenBaoServer, source: VaultSecretSource,
    vcsim: Vcsim, si: Any, vm_repo: Repo,
) -> None:  # fmt: skip
    canary = "vm-guestinfo-canary-61c2"
    write_secret(admin, vm_repo.tenant, "payments/db", password=canary)
    extra = vm_with_secrets(vm_repo, vcsim=vcsim, si=si, source=source)

    everything = json.dumps(extra)
    decoded = [base64.b64decode(v).decode() for k, v in extra.items() if k.endswith("data")]
    assert not any(form in text for form in encodings(canary) for text in [everything, *decoded])
    opened = unwrap_as_a_vm(openbao_server.url, extra[TOKEN_KEY])
    assert opened.json()["data"] == {"payments/db#password": canary}
    assert unwrap_as_a_vm(openbao_server.url, extra[TOKEN_KEY]).status_code == 400


def relocated(text: str, *, root: Path) -> str:
    """``text`` with the guest's absolute folders moved under ``root``."""
    for folder in ("/etc/rxt", "/var/lib/rxt"):
        text = text.replace(folder, f"{root}{folder}")
    return text


def boot(extra: dict[str, str], *, root: Path) -> subprocess.CompletedProcess[str]:
    """Run the VM's cloud-init secret step under ``root``, with guestinfo from ``extra``."""
    userdata = yaml.safe_load(base64.b64decode(extra["guestinfo.userdata"]).decode())
    files = {item["path"]: item["content"] for item in userdata["write_files"]}
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(relocated(content, root=root))
    guestinfo = {k: v for k, v in extra.items() if k.startswith("guestinfo.")}
    (root / "guestinfo.json").write_text(json.dumps(guestinfo))
    tool = root / "bin" / "vmware-rpctool"
    tool.parent.mkdir()
    tool.write_text(
        f"#!/bin/sh\nexec {sys.executable} - {root / 'guestinfo.json'} \"$1\" <<'PY'\n{RPCTOOL}PY\n"
    )
    tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{tool.parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", str(root / FETCHER.lstrip("/"))], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_the_vms_own_fetch_script_opens_the_token_from_guestinfo_once(  # noqa: PLR0917
    admin: hvac.Client, source: VaultSecretSource, vcsim: Vcsim, si: Any, vm_repo: Repo,
    tmp_path: Path,
) -> None:  # fmt: skip
    canary = "vm-boot-canary-93d0"
    write_secret(admin, vm_repo.tenant, "payments/db", password=canary)
    extra = vm_with_secrets(vm_repo, vcsim=vcsim, si=si, source=source)

    first = boot(extra, root=tmp_path / "first-boot")
    assert first.returncode == 0, first.stderr
    assert (
        tmp_path / "first-boot/var/lib/rxt/secrets.env"
    ).read_text() == f"DB_PASSWORD={canary}\n"
    replayed = boot(extra, root=tmp_path / "replayed")  # someone copying the token later
    assert replayed.returncode != 0
    assert canary not in replayed.stdout + replayed.stderr


def vsphere(vcsim: Vcsim, source: VaultSecretSource) -> VsphereDriver:
    return VsphereDriver(
        vcsim.host, port=vcsim.port, user=vcsim.username, password=vcsim.password,
        protocol="http", secrets=source, vault_address=source.address,
    )  # fmt: skip


def folder_extra_config(si: Any, folder: str) -> dict[str, dict[str, str]]:
    """Every VM of ``folder`` with its extraConfig, as anyone with vCenter read access sees it."""
    root = si.RetrieveContent().searchIndex.FindByInventoryPath(f"DC0/vm/{folder}")
    return {
        vm.name: {option.key: str(option.value) for option in vm.config.extraConfig}
        for vm in root.childEntity
    }


def test_no_canary_reaches_vcenter_or_the_vm_paths_logs_and_errors(  # noqa: PLR0917
    admin: hvac.Client, openbao_server: OpenBaoServer, vcsim: Vcsim, si: Any, vm_repo: Repo,
    capture: Capture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    mark = uuid.uuid4().hex[:12]
    value, engine_token = f"r9-vm-value-{mark}", f"r9-vm-token-{mark}"
    admin.auth.token.create(id=engine_token, policies=["root"], ttl="30m")
    monkeypatch.setenv("VAULT_ADDR", openbao_server.url)
    monkeypatch.setenv("VAULT_TOKEN", engine_token)
    source = VaultSecretSource.from_env()
    write_secret(admin, vm_repo.tenant, "payments/db", password=value)
    places = Places()

    with vsphere(vcsim, source) as driver:
        good = plan(vm_repo, driver=driver, source=source)
        for output in OUTPUTS:
            places.add(f"plan rendering ({output})", render(good, output))
        apply(good.changes, driver=driver)
        places.add("observed VMs", json.dumps([o.spec for o in driver.observe(vm_repo.scope)]))

    # Deliberately failing applies: a missing key, then a token denied the value.
    vm_repo.write({"billing": {"DB_PASSWORD": SecretRef("payments/db", "no-such-key")}})
    failures: dict[str, PlatformError] = {}
    with vsphere(vcsim, source) as driver, pytest.raises(NotFound) as missing:
        apply(plan(vm_repo, driver=driver, source=source).changes, driver=driver)
    failures["missing key"] = missing.value
    vm_repo.write({"ledger": {"DB_PASSWORD": DB_PASSWORD}})
    denied_token = limited_token(
        admin,
        name=f"{vm_repo.tenant}-vm-r9",
        policy=f'path "secret/metadata/tenants/{vm_repo.tenant}/*" {{ capabilities = ["read"] }}',
    )
    denied = VaultSecretSource(openbao_server.url, token=denied_token)
    with vsphere(vcsim, denied) as driver, pytest.raises(FatalError) as refused:
        apply(plan(vm_repo, driver=driver, source=source).changes, driver=driver)
    failures["permission denied"] = refused.value
    for name, error in failures.items():
        places.add_error(f"error ({name})", error)
        logs.get_logger().error("change.failed", error=error.render(), exc_info=error)

    machines = folder_extra_config(si, vm_repo.vm_folder)
    places.add("vCenter extraConfig", json.dumps(machines))
    for vm, extra in machines.items():
        for key in ("guestinfo.userdata", "guestinfo.metadata"):
            places.add(f"{vm} {key} (decoded)", base64.b64decode(extra.get(key, "")).decode())
    capture.add_to(places)

    # The value went where it should: the payments VM's token opens it, once.
    token = machines[f"{vm_repo.tenant}-prod-payments-0"][TOKEN_KEY]
    assert unwrap_as_a_vm(openbao_server.url, token).json()["data"] == {str(DB_PASSWORD): value}

    forms = sorted({form for canary in (value, engine_token) for form in encodings(canary)})
    leaks = {form: places.holding(form) for form in forms if places.holding(form)}
    with capture.printed.disabled():
        print(
            f"\nR9 (VM path): searched {len(places.texts)} places for {len(forms)} canary forms; "
            f"canaries found: {len(leaks)}"
        )
    assert leaks == {}
