"""The launcher builds vcsim once per source, starts it on loopback, and stops it by process id."""

from __future__ import annotations

import base64
import gc
import os
import shutil
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import SmartConnect
from pyVmomi import vim

from simulators.vcsim import launcher
from tests.conftest import free_port


def test_the_binary_is_named_by_the_hash_of_main_go(tmp_path: Path) -> None:
    name = launcher.binary_path(tmp_path).name
    assert name.startswith("vcsim-")
    assert name == launcher.binary_path(tmp_path).name
    assert launcher.binary_path(tmp_path).parent == tmp_path


def test_an_existing_binary_is_reused_without_compiling(
    vcsim: launcher.Vcsim, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = launcher.build()
    before = built.stat().st_mtime_ns

    def no_compiling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(launcher, "_compile", no_compiling)
    assert launcher.build() == built
    assert built.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("go_found", "govmomi_found", "named"),
    [
        (False, True, "golang-go"),
        (True, False, "golang-github-vmware-govmomi-dev"),
        (False, False, "golang-go"),
    ],
)
def test_a_missing_toolchain_names_the_debian_packages_to_install(
    go_found: bool, govmomi_found: bool, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *a, **k: "/usr/bin/go" if go_found else None)
    source = tmp_path / "govmomi" / "simulator"
    if govmomi_found:
        source.mkdir(parents=True)
    monkeypatch.setattr(launcher, "GOVMOMI_SIMULATOR", source)
    with pytest.raises(launcher.VcsimUnavailable) as caught:
        launcher.build(directory=tmp_path / "empty-cache")
    assert named in str(caught.value)
    assert "apt-get install -y golang-go golang-github-vmware-govmomi-dev" in str(caught.value)


def test_the_simulator_listens_on_the_port_asked_for_and_stops_by_pid() -> None:
    port = free_port()
    sim = launcher.start(port=port, username="alice", password="s3cret")
    try:
        assert (sim.host, sim.port) == ("127.0.0.1", port)
        assert _alive(sim.pid)
    finally:
        sim.stop()
    assert not _alive(sim.pid)


def test_only_the_configured_login_is_accepted(vcsim: launcher.Vcsim) -> None:
    with pytest.raises(vim.fault.InvalidLogin):
        SmartConnect(
            host=vcsim.host, port=vcsim.port, user=vcsim.username, pwd="wrong", protocol="http"
        )
    # pyVmomi leaves the failed login's socket for the garbage collector; close it now.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_the_inventory_has_a_template_a_cluster_and_the_vm_network(si: Any) -> None:
    index = si.RetrieveContent().searchIndex
    template = index.FindByInventoryPath("DC0/vm/ubuntu-2404-docker")
    assert template is not None
    assert template.config.template is True
    assert index.FindByInventoryPath("DC0/host/DC0_C0") is not None
    assert index.FindByInventoryPath("DC0/network/VM Network") is not None
    assert index.FindByInventoryPath("DC0/datastore/LocalDS_0") is not None


def test_the_vapi_rest_endpoints_answer_a_login(vcsim: launcher.Vcsim) -> None:
    login = base64.b64encode(f"{vcsim.username}:{vcsim.password}".encode()).decode()
    request = urllib.request.Request(
        vcsim.url.removesuffix("/sdk") + "/rest/com/vmware/cis/session",
        method="POST",
        headers={"Authorization": f"Basic {login}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert b'"value"' in response.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
