"""The fake answers the official client the way a real API server does: discovery, CRUD,
selectors, resourceVersion conflicts, preconditions, merge patch, dry run, defaults."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.dynamic import DynamicClient

from simulators.kubernetes import FakeApiServer, write_kubeconfig
from tests.simulators.kubernetes.conftest import deployment, status_of


def test_the_dynamic_client_discovers_every_served_kind(api: k8s.ApiClient, tmp_path: Path) -> None:
    dynamic = DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    for api_version, kind in [
        ("v1", "Namespace"), ("v1", "Service"), ("v1", "Secret"), ("v1", "ConfigMap"),
        ("v1", "PersistentVolumeClaim"), ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"), ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    ]:  # fmt: skip
        assert dynamic.resources.get(api_version=api_version, kind=kind).kind == kind


def test_a_kubeconfig_points_the_official_client_at_the_fake(
    server: FakeApiServer, tmp_path: Path
) -> None:
    path = write_kubeconfig(tmp_path / "config", server=server.url)
    with kube_config.new_client_from_config(config_file=str(path)) as api:
        assert k8s.VersionApi(api).get_code().minor == "28"


def test_creating_twice_answers_409_already_exists(api: k8s.ApiClient, namespace: str) -> None:
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", namespace))
    with pytest.raises(k8s.ApiException) as raised:
        apps.create_namespaced_deployment(namespace, deployment("web", namespace))
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "AlreadyExists"


def test_creating_in_a_missing_namespace_answers_404(api: k8s.ApiClient) -> None:
    with pytest.raises(k8s.ApiException) as raised:
        k8s.AppsV1Api(api).create_namespaced_deployment("nowhere", deployment("web", "nowhere"))
    assert raised.value.status == 404
    assert status_of(raised.value)["message"] == 'namespaces "nowhere" not found'


def test_a_put_with_a_stale_resource_version_answers_409_conflict(
    api: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(api)
    created = apps.create_namespaced_deployment(namespace, deployment("web", namespace))
    fresh = api.sanitize_for_serialization(created)
    stale = copy.deepcopy(fresh)
    fresh["spec"]["replicas"] = 3
    apps.replace_namespaced_deployment("web", namespace, fresh)
    stale["spec"]["replicas"] = 5
    with pytest.raises(k8s.ApiException) as raised:
        apps.replace_namespaced_deployment("web", namespace, stale)
    assert raised.value.status == 409
    assert "the object has been modified" in status_of(raised.value)["message"]


def test_resource_versions_grow_and_generation_follows_the_spec_only(
    api: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(api)
    first = apps.create_namespaced_deployment(namespace, deployment("web", namespace)).metadata
    labelled = apps.patch_namespaced_deployment(
        "web",
        namespace,
        {"metadata": {"labels": {"x": "y"}}},
        _content_type="application/merge-patch+json",
    ).metadata
    scaled = apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"replicas": 4}}, _content_type="application/merge-patch+json"
    ).metadata
    assert (
        int(first.resource_version) < int(labelled.resource_version) < int(scaled.resource_version)
    )
    assert (first.generation, labelled.generation, scaled.generation) == (1, 1, 2)
    assert first.uid == scaled.uid


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("tier=web", ["a", "b"]),
        ("tier==web", ["a", "b"]),
        ("tier!=web", ["c", "d"]),
        ("tier in (web,db)", ["a", "b", "c"]),
        ("tier notin (web)", ["c", "d"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d"]),
        ("tier=web,zone=a", ["a"]),
    ],
)
def test_label_selectors_select_as_the_real_server_does(
    api: k8s.ApiClient, namespace: str, selector: str, names: list[str]
) -> None:
    core = k8s.CoreV1Api(api)
    for name, labels in [
        ("a", {"tier": "web", "zone": "a"}),
        ("b", {"tier": "web"}),
        ("c", {"tier": "db"}),
        ("d", {}),
    ]:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    found = core.list_namespaced_config_map(namespace, label_selector=selector)
    assert [item.metadata.name for item in found.items] == names
    assert int(found.metadata.resource_version) > 0


def test_a_field_selector_picks_by_name(api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    for name in ("a", "b"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    found = core.list_namespaced_config_map(namespace, field_selector="metadata.name=b")
    assert [item.metadata.name for item in found.items] == ["b"]


def test_deleting_a_missing_object_answers_404(api: k8s.ApiClient, namespace: str) -> None:
    with pytest.raises(k8s.ApiException) as raised:
        k8s.CoreV1Api(api).delete_namespaced_config_map("gone", namespace)
    assert raised.value.status == 404
    assert status_of(raised.value)["details"] == {"name": "gone", "kind": "configmaps"}


@pytest.mark.parametrize("field", ["uid", "resource_version"])
def test_a_delete_with_a_wrong_precondition_answers_409_and_keeps_the_object(
    api: k8s.ApiClient, namespace: str, field: str
) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    options = k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(**{field: "999"}))
    with pytest.raises(k8s.ApiException) as raised:
        core.delete_namespaced_config_map("cfg", namespace, body=options)
    assert raised.value.status == 409
    assert "Precondition failed" in status_of(raised.value)["message"]
    assert core.read_namespaced_config_map("cfg", namespace).metadata.name == "cfg"


def test_a_delete_with_matching_preconditions_removes_the_object(
    api: k8s.ApiClient, namespace: str
) -> None:
    core = k8s.CoreV1Api(api)
    meta = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}}).metadata
    pre = k8s.V1Preconditions(uid=meta.uid, resource_version=meta.resource_version)
    core.delete_namespaced_config_map("cfg", namespace, body=k8s.V1DeleteOptions(preconditions=pre))
    assert core.list_namespaced_config_map(namespace).items == []


def test_dry_run_writes_validate_but_keep_nothing(api: k8s.ApiClient, namespace: str) -> None:
    apps = k8s.AppsV1Api(api)
    answer = apps.create_namespaced_deployment(
        namespace, deployment("web", namespace), dry_run="All"
    )
    assert answer.spec.strategy.type == "RollingUpdate"
    assert apps.list_namespaced_deployment(namespace).items == []
    bad = deployment("web", namespace, replicas=-1)
    with pytest.raises(k8s.ApiException) as raised:
        apps.create_namespaced_deployment(namespace, bad, dry_run="All")
    assert raised.value.status == 422


def test_the_server_fills_the_defaults_a_real_one_fills(api: k8s.ApiClient, namespace: str) -> None:
    created = k8s.AppsV1Api(api).create_namespaced_deployment(
        namespace, deployment("web", namespace, replicas=None)
    )
    assert (
        created.spec.replicas,
        created.spec.revision_history_limit,
        created.spec.progress_deadline_seconds,
    ) == (1, 10, 600)
    container = created.spec.template.spec.containers[0]
    assert (container.image_pull_policy, container.ports[0].protocol) == ("IfNotPresent", "TCP")
    body = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    service = k8s.CoreV1Api(api).create_namespaced_service(namespace, body)
    assert (service.spec.type, service.spec.session_affinity) == ("ClusterIP", "None")
    assert service.spec.cluster_ip.startswith("10.96.")
    assert service.spec.ports[0].target_port == 80


def test_a_namespace_delete_removes_what_it_holds(api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}})
    core.delete_namespace(namespace)
    assert (
        core.list_config_map_for_all_namespaces(
            field_selector=f"metadata.namespace={namespace}"
        ).items
        == []
    )


def test_every_request_is_counted_by_verb_and_path(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    server.reset_counts()
    k8s.CoreV1Api(api).list_namespaced_config_map(namespace)
    k8s.CoreV1Api(api).list_namespaced_config_map(namespace)
    assert server.counts[("GET", f"/api/v1/namespaces/{namespace}/configmaps")] == 2
    assert server.calls() == 2


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("0.5", "500m"), ("1000m", "1"), ("1000", "1k"), ("1500", "1500"), ("1024Mi", "1Gi"),
        ("0.5Gi", "512Mi"), ("1536Mi", "1536Mi"), ("2000M", "2G"), ("1024k", "1024k"),
        ("0.0001", "1m"), ("0", "0"),
    ],
)  # fmt: skip
def test_quantities_are_stored_in_the_real_servers_canonical_form(
    api: k8s.ApiClient, namespace: str, sent: str, stored: str
) -> None:
    body = deployment("web", namespace)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": sent}}
    created = k8s.AppsV1Api(api).create_namespaced_deployment(namespace, body)
    assert created.spec.template.spec.containers[0].resources.requests["cpu"] == stored
