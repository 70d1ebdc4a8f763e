"""``rxt serve --config`` as a process, on SQLite and on PostgreSQL: a signed push is
acknowledged, queued in the state store, applied to the fake Kubernetes API server by a worker,
and counted in /metrics; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from simulators.kubernetes import FakeApiServer
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.envrepo import EnvRepo
from tests.state.conftest import empty_postgres, postgres_url

__all__ = ["postgres_url"]

pytestmark = pytest.mark.slow


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = FakeApiServer(tick=0.05)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rxt.db'}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url).dispose()
    return url


def _config(tmp_path: Path, kube: FakeApiServer) -> Path:
    path = tmp_path / "engine.yaml"
    document = {
        "cache_dir": str(tmp_path / "engine-cache"),
        "repositories": [{
            "url": f"file://{tmp_path / 'remote'}", "name": "acme/env-repo", "tenant": "acme",
            "environments": ["prod"], "webhook_secrets": [payloads.SECRET],
        }],
        "kubernetes": {"spot": {"url": kube.url}},
        "workers": 1,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document))
    return path


def _wait_for(url: str, process: subprocess.Popen[bytes], text: str, *, log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rxt serve exited early:\n{log.read_text()[-3000:]}"
        try:
            body = httpx.get(url, timeout=2).text
            if text in body:
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared at {url}:\n{log.read_text()[-3000:]}")


def test_rxt_serve_applies_a_signed_push_with_its_workers(
    tmp_path: Path, kube: FakeApiServer, database_url: str
) -> None:
    repo = EnvRepo(tmp_path / "remote", tmp_path / "cache", vm=False)
    head = repo.initial()
    port = free_port()
    env = {**os.environ, "RXT_DATA_DIR": str(tmp_path / "data"), "RXT_DATABASE_URL": database_url}
    env.pop("RXT_NATS_URL", None)
    command = [sys.executable, "-m", "rxt.cli", "serve", "--port", str(port)]
    command += ["--config", str(_config(tmp_path, kube))]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", process, "", log=log)
        signed = payloads.github("push", payloads.github_push(after=head))
        answer = httpx.post(f"{base}/webhooks/github", content=signed.body, headers=signed.headers)
        assert answer.status_code == 202
        done = 'rxt_reconcile_total{environment="acme/prod",outcome="succeeded"} 1.0'
        _wait_for(f"{base}/metrics", process, done, log=log)
        # The worker completes its queue item just after it counts the reconcile.
        _wait_for(f"{base}/metrics", process, "rxt_workqueue_depth 0.0", log=log)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    finally:
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    assert "engine.stopped" in log.read_text()
