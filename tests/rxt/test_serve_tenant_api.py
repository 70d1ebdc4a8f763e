"""``rxt serve`` as a process mounts the tenant API: the operator token is printed on the first
start only, it makes a tenant's token over ``/api/v1``, and a call without a token is refused
as problem details."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow
TOKEN = re.compile(r"^\s+(rxt_\S+)\s*$", re.MULTILINE)


@contextmanager
def serving(data: Path, log: Path) -> Iterator[str]:
    """Run ``rxt serve`` against ``data`` until the block ends; yields its base URL."""
    port = free_port()
    env = {**os.environ, "RXT_DATA_DIR": str(data), "RXT_DATABASE_URL": f"sqlite:///{data}/rxt.db"}
    env.pop("RXT_NATS_URL", None)
    data.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "rxt.cli", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield base
    finally:
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rxt serve exited early:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"rxt serve never became healthy:\n{log.read_text()[-3000:]}")


def test_rxt_serve_prints_the_operator_token_once_and_answers_the_tenant_api(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with serving(data, first_log) as base:
        printed = TOKEN.findall(first_log.read_text())
        assert len(printed) == 1, first_log.read_text()[-3000:]
        operator = {"Authorization": f"Bearer {printed[0]}"}
        made = httpx.post(f"{base}/api/v1/tenants/acme/tokens", headers=operator,
                          json={"name": "ci", "role": "admin"}, timeout=10)  # fmt: skip
        assert made.status_code == 201, made.text
        admin = {"Authorization": f"Bearer {made.json()['token']}"}
        listed = httpx.get(f"{base}/api/v1/tokens", headers=admin, timeout=10)
        assert listed.status_code == 200, listed.text
        assert [t["name"] for t in listed.json()["items"]] == ["ci"]
        refused = httpx.get(f"{base}/api/v1/environments", timeout=10)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["status"] == 401
    with serving(data, second_log) as base:
        assert TOKEN.findall(second_log.read_text()) == []
        again = httpx.get(f"{base}/api/v1/tokens", headers=admin, timeout=10)
        assert again.status_code == 200, again.text
