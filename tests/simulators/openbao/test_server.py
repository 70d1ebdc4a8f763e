"""The OpenBao launcher starts a healthy dev server on loopback and stops it by process id."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from simulators import openbao


def test_the_wheel_ships_an_executable_bao_binary() -> None:
    binary = openbao.find_binary()
    assert os.access(binary, os.X_OK)
    assert binary.endswith("bao")


def test_a_dev_server_answers_with_its_root_token_and_stops_by_pid() -> None:
    server = openbao.start(root_token="launcher-test-root")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            f"{server.url}/v1/auth/token/lookup-self",
            headers={"X-Vault-Token": "launcher-test-root"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["data"]["id"] == "launcher-test-root"
    finally:
        openbao.stop(server)
    assert server.process.poll() is not None
    # stopping twice is harmless: teardown may run after a failed test already stopped it
    openbao.stop(server)


def test_a_dev_server_leaves_the_users_token_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    server = openbao.start(root_token="home-test-root")
    openbao.stop(server)
    assert not (tmp_path / ".vault-token").exists()
