"""``rxt serve`` as a user runs it: a real process on a free loopback port, stopped by its id."""

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

from rxt.cli import main
from tests.conftest import free_port
from tests.reconciler import payloads


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"acme/env-repo: [{payloads.SECRET}, old-secret]\n")
    port = free_port()
    command = [sys.executable, "-m", "rxt.cli", "serve", "--port", str(port)]
    command += ["--webhook-secrets", str(secrets)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        env = {**os.environ, "RXT_DATA_DIR": str(tmp_path / "data")}
        env.pop("RXT_DATABASE_URL", None)
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log=log)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], *, log: Path) -> None:
    # Starting imports every command group; on a loaded machine that takes seconds.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rxt serve exited early:\n{log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("rxt serve did not become healthy")


@pytest.mark.slow
def test_rxt_serve_answers_a_signed_webhook_and_counts_it(served: str) -> None:
    signed = payloads.github("push", payloads.github_push())
    response = httpx.post(f"{served}/webhooks/github", content=signed.body, headers=signed.headers)
    assert response.status_code == 202
    forged = payloads.github("push", payloads.github_push(), secret="wrong")
    assert (
        httpx.post(
            f"{served}/webhooks/github", content=forged.body, headers=forged.headers
        ).status_code
        == 403
    )
    metrics = httpx.get(f"{served}/metrics").text
    assert 'rxt_webhook_deliveries_total{outcome="accepted",provider="github"} 1.0' in metrics
    # The repository has a secret but no configured environment: acknowledged, nothing queued.
    assert "rxt_workqueue_depth 0.0" in metrics


def test_rxt_serve_says_what_happens_at_a_merge(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "applied only if its plan is the previewed one" in text
    assert "forge.on_stale_merge" in text


def test_rxt_serve_refuses_a_secrets_file_that_is_not_a_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("- just\n- a list\n")
    assert main(["serve", "--webhook-secrets", str(secrets)]) == 1
    assert "must be a mapping" in capsys.readouterr().err
