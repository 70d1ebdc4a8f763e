"""Every known difference between the fake and a real API server, one row each.

Each row asserts what the fake does where a real server differs, so a change to the fake (or
a driver starting to depend on the difference) is noticed. docs/simulators/kubernetes.md lists
the same differences for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from kubernetes import client as k8s

from simulators.kubernetes import FakeApiServer
from tests.simulators.kubernetes.conftest import APPLY, deployment, raw, status_of


@dataclass(frozen=True)
class Difference:
    real: str
    check: Callable[[FakeApiServer, k8s.ApiClient, str], None]


def _watch_is_refused(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    code, status = raw(api, "GET", f"/api/v1/namespaces/{namespace}/configmaps", watch="true")
    assert (code, status["reason"]) == (400, "BadRequest")


def _strategic_merge_is_refused(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    k8s.CoreV1Api(api).create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    with pytest.raises(k8s.ApiException) as raised:
        k8s.CoreV1Api(api).patch_namespaced_config_map("cfg", namespace, {"data": {"a": "b"}})
    assert raised.value.status == 415


def _type_errors_are_422(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    bad = deployment("web", namespace)
    bad["spec"]["replicas"] = "two"
    code, status = raw(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", bad)
    assert (code, status["reason"]) == (422, "Invalid")


def _list_maps_key_by_first_key_only(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    body = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": namespace},
        "spec": {"ports": [{"name": "udp", "port": 53, "protocol": "UDP"}]},
    }  # fmt: skip
    core = k8s.CoreV1Api(api)
    core.patch_namespaced_service("dns", namespace, body, field_manager="a", _content_type=APPLY)
    body["spec"]["ports"] = [{"name": "tcp", "port": 53, "protocol": "TCP"}]
    with pytest.raises(k8s.ApiException) as raised:  # real: no conflict, two ports
        core.patch_namespaced_service(
            "dns", namespace, body, field_manager="b", _content_type=APPLY
        )
    fields = {c["field"] for c in status_of(raised.value)["details"]["causes"]}
    assert fields == {".spec.ports[port=53].name", ".spec.ports[port=53].protocol"}


def _namespace_delete_is_immediate(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    k8s.CoreV1Api(api).delete_namespace(namespace)
    with pytest.raises(k8s.ApiException) as raised:
        k8s.CoreV1Api(api).read_namespace(namespace)
    assert raised.value.status == 404


def _finalizers_do_not_delay_deletes(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_persistent_volume_claim(namespace, claim)
    assert created.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    core.delete_namespaced_persistent_volume_claim("data", namespace)
    assert core.list_namespaced_persistent_volume_claim(namespace).items == []


def _no_pods_are_modelled(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    code, _ = raw(api, "GET", f"/api/v1/namespaces/{namespace}/pods")
    assert code == 404


def _any_token_is_accepted(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    configuration = k8s.Configuration()
    configuration.host = server.url
    configuration.api_key = {"authorization": "Bearer wrong"}
    with k8s.ApiClient(configuration) as other:
        assert k8s.CoreV1Api(other).read_namespace(namespace).metadata.name == namespace


def _lists_are_never_paged(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    for n in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{n}"}})
    found = core.list_namespaced_config_map(namespace, limit=1)
    assert (len(found.items), found.metadata._continue) == (3, None)


def _status_subresource_is_not_served(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    k8s.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("web", namespace))
    code, _ = raw(api, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/status")
    assert code == 404


def _rollouts_advance_per_controller_step(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    k8s.AppsV1Api(api).create_namespaced_deployment(
        namespace, deployment("web", namespace, replicas=3)
    )
    server.controllers.step()
    assert (
        k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).status.updated_replicas == 1
    )


def _unknown_fields_are_kept_without_strict_validation(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    body = {"metadata": {"name": "cfg"}, "data": {}, "extra": "kept"}
    code, created = raw(api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert (code, created.get("extra")) == (201, "kept")  # real: dropped with a warning


def _no_openapi_document(server: FakeApiServer, api: k8s.ApiClient, namespace: str) -> None:
    code, _ = raw(api, "GET", "/openapi/v2")
    assert code == 404  # so kubectl needs --validate=false


DIFFERENCES = {
    "no OpenAPI document is served": Difference(
        "/openapi/v2 and /openapi/v3 describe every kind", _no_openapi_document
    ),
    "watch is not served": Difference("watch streams events", _watch_is_refused),
    "strategic merge patch is not served": Difference(
        "patches merge by the schema's patch strategy", _strategic_merge_is_refused
    ),
    "type errors answer 422 Invalid": Difference(
        "type errors answer 400 BadRequest from the decoder", _type_errors_are_422
    ),
    "list maps merge by their first key only": Difference(
        "Service ports merge by port and protocol", _list_maps_key_by_first_key_only
    ),
    "a namespace delete is immediate": Difference(
        "a namespace is Terminating until its content is gone", _namespace_delete_is_immediate
    ),
    "finalizers never delay a delete": Difference(
        "pvc-protection keeps a claim in use until its pod goes", _finalizers_do_not_delay_deletes
    ),
    "there are no pods": Difference(
        "pods, events and image pull errors can be read", _no_pods_are_modelled
    ),
    "any bearer token is accepted": Difference(
        "authentication and RBAC apply", _any_token_is_accepted
    ),
    "lists are never paged": Difference(
        "limit and continue page long lists", _lists_are_never_paged
    ),
    "the status subresource is not served": Difference(
        "/status can be read and written", _status_subresource_is_not_served
    ),
    "rollouts advance one replica per controller step": Difference(
        "pods start on nodes at their own pace", _rollouts_advance_per_controller_step
    ),
    "unknown fields are kept without strict validation": Difference(
        "unknown fields are dropped with a warning",
        _unknown_fields_are_kept_without_strict_validation,
    ),
}


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_a_known_difference_from_a_real_api_server_still_holds(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str, name: str
) -> None:
    DIFFERENCES[name].check(server, api, namespace)
