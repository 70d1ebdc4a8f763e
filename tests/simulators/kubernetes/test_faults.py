"""Switchable faults and the controllers: overload, stuck rollouts, images that never pull."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from simulators.kubernetes import FakeApiServer
from tests.simulators.kubernetes.conftest import deployment, status_of


@pytest.mark.parametrize(
    ("code", "reason"), [(429, "TooManyRequests"), (503, "ServiceUnavailable")]
)
def test_overload_answers_carry_retry_after_and_a_status(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str, code: int, reason: str
) -> None:
    server.faults.fail_next(code, times=2, retry_after=3)
    core = k8s.CoreV1Api(api)
    for _ in range(2):
        with pytest.raises(k8s.ApiException) as raised:
            core.list_namespaced_config_map(namespace)
        assert raised.value.status == code
        assert raised.value.headers["Retry-After"] == "3"
        status = status_of(raised.value)
        assert (status["reason"], status["details"]["retryAfterSeconds"]) == (reason, 3)
    assert core.list_namespaced_config_map(namespace).items == []


def test_the_deployment_controller_completes_a_rollout_step_by_step(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", namespace, replicas=2))
    seen = []
    for _ in range(3):
        server.controllers.step()
        status = apps.read_namespaced_deployment("web", namespace).status
        seen.append(
            (status.observed_generation, status.updated_replicas, status.available_replicas)
        )
    assert seen == [(1, 1, 1), (1, 2, 2), (1, 2, 2)]
    conditions = {
        c.type: c.reason
        for c in apps.read_namespaced_deployment("web", namespace).status.conditions
    }
    assert conditions == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }


def test_a_stuck_rollout_reports_the_progress_deadline(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    now = [0.0]
    real = server.controllers.clock
    server.controllers.clock = lambda: now[0]
    try:
        server.faults.stuck_rollouts = True
        body = deployment("web", namespace)
        body["spec"]["progressDeadlineSeconds"] = 30
        k8s.AppsV1Api(api).create_namespaced_deployment(namespace, body)
        server.controllers.step()
        now[0] = 31.0
        server.controllers.step()
    finally:
        server.controllers.clock = real
    status = k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).status
    progressing = next(c for c in status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert not status.updated_replicas


def test_an_image_that_never_pulls_leaves_replicas_unavailable(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    server.faults.failing_images = {"registry.test/missing:1"}
    body = deployment("web", namespace, image="registry.test/missing:1")
    k8s.AppsV1Api(api).create_namespaced_deployment(namespace, body)
    for _ in range(3):
        server.controllers.step()
    status = k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).status
    assert (status.updated_replicas, status.available_replicas, status.unavailable_replicas) == (
        2,
        None,
        2,
    )


def test_the_hpa_controller_scales_under_its_own_field_manager(
    server: FakeApiServer, api: k8s.ApiClient, namespace: str
) -> None:
    k8s.AppsV1Api(api).create_namespaced_deployment(
        namespace, deployment("web", namespace, replicas=1)
    )
    hpa = {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 3,
            "maxReplicas": 5,
        },
    }
    k8s.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
    server.controllers.step()
    scaled = k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    assert scaled.spec.replicas == 3
    owners = {e.manager: e.fields_v1 for e in scaled.metadata.managed_fields}
    assert "f:replicas" in owners["kube-controller-manager"]["f:spec"]
