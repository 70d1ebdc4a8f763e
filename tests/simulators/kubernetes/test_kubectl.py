"""kubectl works against the fake too (with --validate=false: no OpenAPI document is served)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from simulators.kubernetes import FakeApiServer, write_kubeconfig

KUBECTL = shutil.which("kubectl")
MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: cli}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
"""

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def test_kubectl_creates_applies_server_side_and_follows_a_rollout(
    server: FakeApiServer, tmp_path: Path
) -> None:
    config = write_kubeconfig(tmp_path / "config", server=server.url)
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(config)}

    def kubectl(*args: str, stdin: str = "") -> str:
        assert KUBECTL is not None
        done = subprocess.run(
            [KUBECTL, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "namespace/cli created" in kubectl("create", "namespace", "cli")
    applied = kubectl("apply", "--server-side", "--validate=false", "-f", "-", stdin=MANIFEST)
    assert "deployment.apps/web serverside-applied" in applied
    for _ in range(2):
        server.controllers.step()
    status = kubectl("rollout", "status", "deployment/web", "-n", "cli", "--watch=false")
    assert 'deployment "web" successfully rolled out' in status
    assert "web" in kubectl("get", "deployments", "-n", "cli")
