"""Server-side apply on the fake: create on apply, managedFields, conflicts and force, removal
of fields a manager stops sending, and validation with the real schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client as k8s

from simulators.kubernetes.kinds import served
from simulators.kubernetes.status import ApiError
from simulators.kubernetes.store import Store, Write
from tests.simulators.kubernetes.conftest import APPLY, deployment, raw, status_of


def apply(
    api: k8s.ApiClient,
    body: dict[str, Any],
    *,
    manager: str = "rxt-deploy",
    force: bool = False,
    **extra: Any,
) -> Any:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    return k8s.AppsV1Api(api).patch_namespaced_deployment(
        name, namespace, body, field_manager=manager, force=force, _content_type=APPLY, **extra
    )


def managers(obj: Any) -> dict[str, dict[str, Any]]:
    return {entry.manager: entry.fields_v1 for entry in obj.metadata.managed_fields}


def test_apply_creates_a_missing_object_and_records_what_it_owns(
    api: k8s.ApiClient, namespace: str
) -> None:
    created = apply(api, deployment("web", namespace))
    owned = managers(created)["rxt-deploy"]
    assert owned["f:spec"]["f:replicas"] == {}
    containers = owned["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers['k:{"name":"app"}']) == {".", "f:image", "f:name", "f:ports"}
    assert "f:strategy" not in owned["f:spec"]  # a default, owned by no one


def test_applying_the_same_object_again_keeps_its_resource_version(
    api: k8s.ApiClient, namespace: str
) -> None:
    first = apply(api, deployment("web", namespace))
    again = apply(api, deployment("web", namespace))
    assert again.metadata.resource_version == first.metadata.resource_version


def test_a_field_owned_by_another_manager_conflicts_without_force(
    api: k8s.ApiClient, namespace: str
) -> None:
    apply(api, deployment("web", namespace), manager="team-a")
    with pytest.raises(k8s.ApiException) as raised:
        apply(api, deployment("web", namespace, replicas=5), manager="rxt-deploy")
    status = status_of(raised.value)
    assert (raised.value.status, status["reason"]) == (409, "Conflict")
    assert status["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "team-a" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_force_takes_the_field_from_the_other_manager(api: k8s.ApiClient, namespace: str) -> None:
    apply(api, deployment("web", namespace), manager="team-a")
    taken = apply(api, deployment("web", namespace, replicas=5), manager="rxt-deploy", force=True)
    assert taken.spec.replicas == 5
    assert "f:replicas" not in managers(taken)["team-a"].get("f:spec", {})
    assert "f:replicas" in managers(taken)["rxt-deploy"]["f:spec"]


def test_an_equal_value_from_two_managers_is_shared_without_conflict(
    api: k8s.ApiClient, namespace: str
) -> None:
    apply(api, deployment("web", namespace), manager="team-a")
    shared = apply(api, deployment("web", namespace), manager="rxt-deploy")
    assert "f:replicas" in managers(shared)["team-a"]["f:spec"]
    assert "f:replicas" in managers(shared)["rxt-deploy"]["f:spec"]


def test_a_field_no_longer_sent_is_removed_and_defaults_return(
    api: k8s.ApiClient, namespace: str
) -> None:
    apply(api, deployment("web", namespace, replicas=4))
    body = deployment("web", namespace, replicas=None)
    body["metadata"]["labels"] = {}
    after = apply(api, body)
    assert after.spec.replicas == 1
    assert not after.metadata.labels


def test_a_field_another_manager_also_owns_stays_when_we_stop_sending_it(
    api: k8s.ApiClient, namespace: str
) -> None:
    apply(api, deployment("web", namespace, replicas=4))
    k8s.AppsV1Api(api).patch_namespaced_deployment(
        "web",
        namespace,
        {"spec": {"replicas": 3}},
        field_manager="hpa",
        _content_type="application/merge-patch+json",
    )
    after = apply(api, deployment("web", namespace, replicas=None))
    assert after.spec.replicas == 3


def test_containers_merge_by_name_across_managers(api: k8s.ApiClient, namespace: str) -> None:
    apply(api, deployment("web", namespace))
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}},
    }
    merged = apply(api, sidecar, manager="mesh")
    assert [c.name for c in merged.spec.template.spec.containers] == ["app", "proxy"]


def _with_containers(namespace: str, *names: str) -> dict[str, Any]:
    body = deployment("web", namespace)
    body["spec"]["template"]["spec"]["containers"] = [
        {"name": name, "image": f"registry.test/{name}:1"} for name in names
    ]
    return body


def test_a_container_applied_before_a_live_one_lands_before_it(
    api: k8s.ApiClient, namespace: str
) -> None:
    # The real server keeps the applied order; a fake that appended new items at the end
    # would make the engine see drift after every such apply, and apply again forever.
    apply(api, _with_containers(namespace, "a"))
    after = apply(api, _with_containers(namespace, "d", "a"))
    assert [c.name for c in after.spec.template.spec.containers] == ["d", "a"]


def test_reordered_containers_take_the_applied_order(api: k8s.ApiClient, namespace: str) -> None:
    apply(api, _with_containers(namespace, "a", "b", "c"))
    after = apply(api, _with_containers(namespace, "c", "a", "b"))
    assert [c.name for c in after.spec.template.spec.containers] == ["c", "a", "b"]


def test_another_managers_container_keeps_its_place_among_ours(
    api: k8s.ApiClient, namespace: str
) -> None:
    apply(api, _with_containers(namespace, "a", "b"))
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}},
    }
    apply(api, sidecar, manager="mesh")
    after = apply(api, _with_containers(namespace, "z", "a", "b"))
    assert [c.name for c in after.spec.template.spec.containers] == ["z", "a", "b", "proxy"]


def test_apply_without_a_field_manager_is_refused(api: k8s.ApiClient, namespace: str) -> None:
    with pytest.raises(k8s.ApiException) as raised:
        k8s.AppsV1Api(api).patch_namespaced_deployment(
            "web", namespace, deployment("web", namespace), _content_type=APPLY
        )
    assert raised.value.status == 422
    assert "fieldManager: Required value" in status_of(raised.value)["message"]


def test_a_dry_run_apply_keeps_nothing(api: k8s.ApiClient, namespace: str) -> None:
    answer = apply(api, deployment("web", namespace), dry_run="All")
    assert answer.spec.replicas == 2
    assert k8s.AppsV1Api(api).list_namespaced_deployment(namespace).items == []


def test_a_manifest_the_real_schemas_reject_is_refused_with_the_real_error_shape(
    api: k8s.ApiClient, namespace: str
) -> None:
    bad = deployment("web", namespace)
    bad["spec"]["replicas"] = "two"
    bad["spec"]["pause"] = True
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    apps = k8s.AppsV1Api(api)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    code, status = raw(api, "POST", path, bad, fieldValidation="Strict")
    assert code == 422
    assert {k: status[k] for k in ("kind", "apiVersion", "status", "reason", "code")} == {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
    }  # fmt: skip
    assert status["message"].startswith('Deployment.apps "web" is invalid: [')
    details = status["details"]
    assert (details["name"], details["group"], details["kind"]) == ("web", "apps", "deployments")
    assert {(c["reason"], c["field"]) for c in details["causes"]} == {
        ("FieldValueTypeInvalid", "spec.replicas"),
        ("FieldValueInvalid", "spec.pause"),
        ("FieldValueRequired", "spec.template.spec.containers[0].name"),
    }
    assert apps.list_namespaced_deployment(namespace).items == []


def test_an_apply_with_a_wrong_type_is_refused_before_any_merge(
    api: k8s.ApiClient, namespace: str
) -> None:
    bad = deployment("web", namespace)
    bad["spec"]["replicas"] = "two"
    with pytest.raises(k8s.ApiException) as raised:
        apply(api, bad)
    (cause,) = status_of(raised.value)["details"]["causes"]
    assert cause["field"] == "spec.replicas"
    assert cause["message"] == (
        'Invalid value: "two": spec.replicas in body must be of type integer'
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["spec"].update(replicas=-1), "spec.replicas"),
        (lambda d: d["metadata"].update(name="Web_1"), "metadata.name"),
        (
            lambda d: d["spec"]["template"]["metadata"].update(labels={"app": "other"}),
            "spec.template.metadata.labels",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("image"),
            "spec.template.spec.containers[0].image",
        ),
    ],
)
def test_checks_the_real_server_makes_in_code_are_made(mutate: Any, field: str) -> None:
    store = Store(minor=28)
    namespaces, deployments = served("Namespace"), served("Deployment")
    store.create(namespaces, "", {"metadata": {"name": "t"}}, Write("test"))
    body = deployment("web", "t")
    mutate(body)
    with pytest.raises(ApiError) as raised:
        store.create(deployments, "t", body, Write("test"))
    assert field in [cause.field for cause in raised.value.causes]


@pytest.mark.parametrize(("minor", "accepted"), [(25, False), (26, False), (27, True), (29, True)])
def test_validation_follows_the_configured_kubernetes_version(minor: int, accepted: bool) -> None:
    # Container resizePolicy appeared in Kubernetes 1.27.
    store = Store(minor=minor)
    namespaces, deployments = served("Namespace"), served("Deployment")
    store.create(namespaces, "", {"metadata": {"name": "t"}}, Write("test"))
    body = deployment("web", "t")
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["resizePolicy"] = [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]
    if accepted:
        store.apply(deployments, "t", "web", copy.deepcopy(body), Write("m"), force=False)
        return
    with pytest.raises(ApiError) as raised:
        store.apply(deployments, "t", "web", body, Write("m"), force=False)
    assert raised.value.code == 422
    assert "field not declared in schema" in raised.value.message


def test_immutable_fields_cannot_change(api: k8s.ApiClient, namespace: str) -> None:
    apply(api, deployment("web", namespace))
    moved = deployment("web", namespace)
    moved["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "web", "v": "2"}
    with pytest.raises(k8s.ApiException) as raised:
        apply(api, moved, force=True)
    assert raised.value.status == 422
    assert status_of(raised.value)["details"]["causes"][0]["field"] == "spec.selector"


def test_a_list_item_no_longer_sent_is_removed_whole(api: k8s.ApiClient, namespace: str) -> None:
    with_volume = deployment("web", namespace)
    pod = with_volume["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}]
    apply(api, with_volume)
    after = apply(api, deployment("web", namespace))
    assert after.spec.template.spec.volumes is None


@pytest.mark.parametrize("minor", [24, 99])
def test_a_version_without_schemas_is_refused_at_start(minor: int) -> None:
    with pytest.raises(ValueError, match="has no schemas here"):
        Store(minor=minor)
