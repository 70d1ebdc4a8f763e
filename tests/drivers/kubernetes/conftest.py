"""A fake API server for the driver tests, a fresh namespace per test, drivers over one client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import pytest
from kubernetes import client as k8s

from core.resources import SecretRef
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.protocol import Scope
from simulators.kubernetes import FakeApiServer

_numbers = itertools.count()
CANARY = "s3cr3t-canary-value"


class DictSecrets:
    """A secret source over a dict, standing in for Vault in driver tests."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        return 1

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        self.reads.append(str(ref))
        return self.values[str(ref)]

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        raise NotImplementedError("the Kubernetes driver never wraps")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApiServer]:
    # The controllers run only when a test calls ``server.controllers.step()``: no sleeping.
    fake = FakeApiServer(tick=3600.0, deadline_scale=1.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def clean_faults(server: FakeApiServer) -> Iterator[None]:
    yield
    server.faults.clear()


@pytest.fixture
def api(server: FakeApiServer) -> Iterator[k8s.ApiClient]:
    configuration = k8s.Configuration()
    configuration.host = server.url
    configuration.retries = retry_policy()
    api_client = k8s.ApiClient(configuration)
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(server: FakeApiServer, api: k8s.ApiClient) -> str:
    name = f"ns-{next(_numbers)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    # Raw, not CoreV1Api: importing the typed API costs seconds; the driver never does.
    _, url, headers, data, _ = api.param_serialize(
        method="POST",
        resource_path="/api/v1/namespaces",
        header_params={"Content-Type": "application/json"},
        body=body,
    )
    assert api.call_api("POST", url, header_params=headers, body=data).status == 201
    return name


@pytest.fixture
def scope(namespace: str) -> Scope:
    return Scope(tenant="acme", environment="prod", site={"namespace": namespace})


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"tenants/acme/prod/shop#db-password": CANARY, "shop/db#password": CANARY})


@pytest.fixture
def driver(api: k8s.ApiClient, secrets: DictSecrets) -> KubernetesDriver:
    return KubernetesDriver(api, secrets=secrets)
