"""``rxt serve`` as a process adopts a repository registered through its tenant API: the webhook
secret is read from a real OpenBao dev server under the tenant's mount, the registration wakes
the refresher at once, a signed push is then applied to the fake Kubernetes API server, and
SIGTERM stops the refresher with the engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
import yaml

from reconciler.wiring.registered import repository_name
from simulators import openbao
from simulators.kubernetes import FakeApiServer
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.envrepo import EnvRepo, environment_yaml

pytestmark = pytest.mark.slow
TOKEN = re.compile(r"^\s+(rxt_\S+)\s*$", re.MULTILINE)
HOOK = "hook-value-of-a-registered-repo"


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = FakeApiServer(tick=0.05)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bao() -> Iterator[openbao.OpenBaoServer]:
    with openbao.running() as server:
        yield server


def _config(tmp_path: Path, kube: FakeApiServer, bao: openbao.OpenBaoServer) -> Path:
    path = tmp_path / "engine.yaml"
    document = {
        "cache_dir": str(tmp_path / "engine-cache"),
        "kubernetes": {"spot": {"url": kube.url}},
        "vault": {"address": bao.url, "token": bao.root_token},
        "workers": 1,
        # Far longer than the test: only the registration's wake-up can adopt in time.
        "registrations_refresh_seconds": 3600,
    }
    path.write_text(yaml.safe_dump(document))
    return path


def _until(check: Any, process: subprocess.Popen[bytes], log: Path, what: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rxt serve exited early:\n{log.read_text()[-3000:]}"
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened:\n{log.read_text()[-3000:]}")


def _registration(url: str) -> dict[str, Any]:
    manifest = yaml.safe_load(
        environment_yaml("acme", "prod", namespace="acme-prod", folder="acme-prod", vm=False)
    )
    return {
        "url": url,
        "webhookSecretRef": {"path": "ci/webhook", "key": "secret"},
        "environments": [{"name": "prod", "path": "environments/prod", "manifest": manifest}],
    }


def _tenant_token(base: str, log: Path) -> dict[str, str]:
    [operator_secret] = TOKEN.findall(log.read_text())
    operator = {"Authorization": f"Bearer {operator_secret}"}
    granted = httpx.put(f"{base}/api/v1/tenants/acme/sites", headers=operator,
                        json={"sites": ["spot"]}, timeout=10)  # fmt: skip
    assert granted.status_code == 200, granted.text
    made = httpx.post(f"{base}/api/v1/tenants/acme/tokens", headers=operator,
                      json={"name": "ci", "role": "deployer"}, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


def _push(base: str, name: str, head: str) -> int:
    body = payloads.github_push(after=head)
    body["repository"] = {**payloads.GITHUB_REPO, "full_name": name}
    signed = payloads.github("push", body, secret=HOOK)
    answer = httpx.post(f"{base}/webhooks/github", content=signed.body, headers=signed.headers)
    return answer.status_code


def test_rxt_serve_adopts_a_registered_repository_and_applies_its_signed_push(
    tmp_path: Path, kube: FakeApiServer, bao: openbao.OpenBaoServer
) -> None:
    repo = EnvRepo(tmp_path / "remote", tmp_path / "cache", vm=False)
    head = repo.initial()
    url = f"file://{repo.remote_dir}"
    hvac.Client(url=bao.url, token=bao.root_token).secrets.kv.v2.create_or_update_secret(
        path="tenants/acme/ci/webhook", secret={"secret": HOOK}, mount_point="secret"
    )
    port, log = free_port(), tmp_path / "serve.log"
    env = {**os.environ, "RXT_DATA_DIR": str(tmp_path / "data"),
           "RXT_DATABASE_URL": f"sqlite:///{tmp_path / 'rxt.db'}",
           "RXT_ALLOWED_URL_SCHEMES": "https,http,file"}  # fmt: skip
    env.pop("RXT_NATS_URL", None)
    command = [sys.executable, "-m", "rxt.cli", "serve", "--port", str(port)]
    command += ["--config", str(_config(tmp_path, kube, bao))]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: httpx.get(f"{base}/healthz").status_code == 200, process, log, "health")
        tenant = _tenant_token(base, log)
        registered = httpx.post(f"{base}/api/v1/repositories", headers=tenant,
                                json=_registration(url), timeout=10)  # fmt: skip
        assert registered.status_code == 201, registered.text
        name = repository_name(url)
        _until(lambda: _push(base, name, head) == 202, process, log, "an accepted push")
        done = 'rxt_reconcile_total{environment="acme/prod",outcome="succeeded"} 1.0'
        _until(lambda: done in httpx.get(f"{base}/metrics").text, process, log, "the reconcile")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "registration.adopted" in text
    assert HOOK not in text  # the secret read from Vault is redacted from the logs
    assert "engine.stopped" in text
