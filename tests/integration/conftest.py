"""Servers shared by the cross-driver secret tests: a real OpenBao and the fake Kubernetes API
server, each started once per worker, and a repository per test."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import structlog
from kubernetes import client as k8s

from core import logs
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.vault import VaultSecretSource
from simulators import openbao
from simulators.kubernetes import FakeApiServer
from tests.integration.places import Places
from tests.integration.world import Repo
from tests.simulators.vcsim.fixtures import si, vcsim

__all__ = ["si", "vcsim"]  # vcsim's session fixtures, shared with its own tests


@pytest.fixture(scope="session")
def openbao_server() -> Iterator[openbao.OpenBaoServer]:
    with openbao.running() as server:
        yield server


@pytest.fixture
def admin(openbao_server: openbao.OpenBaoServer) -> hvac.Client:
    """A root client standing in for the tenant who writes secrets."""
    return hvac.Client(url=openbao_server.url, token=openbao_server.root_token)


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test, so tests share one server without seeing each other's data."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kube_server() -> Iterator[FakeApiServer]:
    # Controllers run only when a test steps them: no background timing in these tests.
    fake = FakeApiServer(tick=3600.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def kube_client(kube_server: FakeApiServer) -> Iterator[k8s.ApiClient]:
    configuration = k8s.Configuration()
    configuration.host = kube_server.url
    configuration.retries = retry_policy()
    api_client = k8s.ApiClient(configuration)
    yield api_client
    api_client.close()


@pytest.fixture
def source(openbao_server: openbao.OpenBaoServer) -> VaultSecretSource:
    return VaultSecretSource(openbao_server.url, token=openbao_server.root_token)


@pytest.fixture
def kube_driver(kube_client: k8s.ApiClient, source: VaultSecretSource) -> KubernetesDriver:
    return KubernetesDriver(kube_client, secrets=source)


@pytest.fixture
def repo(tmp_path: Path, tenant: str) -> Repo:
    return Repo(tmp_path / "repo", tenant)


def limited_token(admin: hvac.Client, *, name: str, policy: str) -> str:
    """A token holding only ``policy`` (and Vault's default policy, which allows wrapping)."""
    admin.sys.create_or_update_policy(name=name, policy=policy)
    created = admin.auth.token.create(policies=[name], ttl="10m")
    return str(created["auth"]["client_token"])


@dataclass
class Capture:
    """Everything a run prints: structlog output, the SDKs' stdlib logging, stdout and stderr."""

    logs: io.StringIO
    records: pytest.LogCaptureFixture
    printed: pytest.CaptureFixture[str]

    def add_to(self, places: Places) -> None:
        places.add("structlog output", self.logs.getvalue())
        lines = (f"{r.name} {r.getMessage()}" for r in self.records.records)
        places.add("stdlib log records", "\n".join(lines))
        printed = self.printed.readouterr()
        places.add("stdout and stderr", printed.out + printed.err)


@pytest.fixture
def capture(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Capture]:
    stream = io.StringIO()
    logs.configure(level="DEBUG", json=True, stream=stream)
    caplog.set_level(logging.DEBUG)  # the SDKs' own stdlib logging, at its most talkative
    yield Capture(stream, caplog, capsys)
    structlog.reset_defaults()
