"""What the planner really renders converges through the driver: no drift, no second write."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from kubernetes import client as k8s

from core.resources import Platform
from drivers.kubernetes import KubernetesDriver
from drivers.protocol import Scope
from planner.rendering import render_environment
from tests.drivers.contract import plan_changes
from tests.drivers.kubernetes.conftest import DictSecrets
from tests.planner.builders import SITES, app, environment, view

_numbers = itertools.count()
SECRET = {"secretRef": {"path": "shop/db", "key": "password"}}


def rendered(namespace: str) -> list[Any]:
    sites = {**SITES, "kubernetes": {"site": "spot", "namespace": namespace}}
    web = app(
        "web",
        env={"DB_PASSWORD": SECRET, "MODE": "production"},
        expose={"host": "web.example.com", "port": "http", "tls": True},
        autoscale={"min": 2, "max": 5},
        network={"allowFrom": ["api"], "egress": ["10.0.0.0/8:5432"]},
        placement={"target": "kubernetes"},
    )
    api = app(
        "api",
        volumes=[{"name": "data", "size": "5Gi", "mountPath": "/data"}],
        placement={"target": "kubernetes"},
    )
    everything = render_environment(view(web, api, env=environment(sites=sites)))
    return [item for item in everything if item.ref.platform is Platform.KUBERNETES]


def test_the_planners_objects_converge_and_the_next_plan_is_empty(
    api: k8s.ApiClient, driver: KubernetesDriver
) -> None:
    namespace = f"planned-{next(_numbers)}"
    desired = rendered(namespace)
    assert {item.ref.kind for item in desired} >= {
        "Namespace", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
        "NetworkPolicy", "PersistentVolumeClaim", "Secret",
    }  # fmt: skip
    scope = Scope("acme", "prod", {"namespace": namespace})
    for change in plan_changes(desired, driver.observe(scope)):
        assert driver.apply(change).wrote
    assert plan_changes(desired, driver.observe(scope)) == []
    for change in plan_changes(desired, []):
        assert not driver.apply(change).wrote, change.ref


def test_secret_data_is_keyed_as_the_planners_pods_read_it(
    api: k8s.ApiClient, secrets: DictSecrets
) -> None:
    namespace = f"planned-{next(_numbers)}"
    secrets.values["shop/db#password"] = "pw-from-vault"
    driver = KubernetesDriver(api, secrets=secrets)
    for change in plan_changes(rendered(namespace), []):
        driver.apply(change)
    pod = k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).spec.template.spec
    (reference,) = [e.value_from.secret_key_ref for e in pod.containers[0].env if e.value_from]
    stored = k8s.CoreV1Api(api).read_namespaced_secret(reference.name, namespace)
    assert base64.b64decode(stored.data[reference.key]).decode() == "pw-from-vault"
