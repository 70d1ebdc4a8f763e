"""One fake API server per test module, an official client for it, a fresh namespace per test."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from simulators.kubernetes import FakeApiServer

_numbers = itertools.count()
APPLY = "application/apply-patch+yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApiServer]:
    fake = FakeApiServer(tick=3600.0)  # controllers step only when a test asks
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
    configuration.retries = 0  # let every answer through; the client's retries are not tested
    api_client = k8s.ApiClient(configuration)
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(api: k8s.ApiClient) -> str:
    name = f"sim-{next(_numbers)}"
    k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def deployment(
    name: str, namespace: str, *, replicas: int | None = 2, image: str = "nginx:1.27"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tier": "web"}},
        "spec": spec,
    }


def status_of(error: k8s.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def raw(
    api: k8s.ApiClient, method: str, path: str, body: Any = None, **query: str
) -> tuple[int, dict[str, Any]]:
    """A request through the official client without its typed models (which validate first)."""
    serialized = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query.items()),
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
    )
    _, url, headers, data, _ = serialized
    response = api.call_api(method, url, header_params=headers, body=data)
    answer: dict[str, Any] = json.loads(response.read() or b"{}")
    return response.status, answer
