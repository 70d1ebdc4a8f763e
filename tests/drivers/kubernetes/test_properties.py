"""Property: whatever valid spec is applied, observing it back plans nothing and writes nothing."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client as k8s

from core.resources import OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.protocol import Scope
from simulators.kubernetes import FakeApiServer
from tests.drivers.contract import plan_changes
from tests.drivers.kubernetes import scenario

OWNER = OwnerKey("acme", "prod", "shop", "web")
_numbers = itertools.count()

label = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
value = st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True)
env_name = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(label, min_size=1, max_size=3, unique=True))
    return {
        "replicas": draw(st.one_of(st.none(), st.integers(0, 9))),
        "labels": draw(st.dictionaries(label, value, max_size=3)),
        "containers": [
            {
                "name": name,
                "image": f"registry.test/{name}:{draw(st.integers(1, 9))}",
                "ports": [
                    {"containerPort": port}
                    for port in draw(st.lists(st.integers(1, 65535), max_size=2, unique=True))
                ],
                "env": [
                    {"name": key, "value": text}
                    for key, text in draw(st.dictionaries(env_name, value, max_size=3)).items()
                ],
            }
            for name in names
        ],
    }


def _desired(namespace: str, shape: dict[str, Any]) -> Any:
    base = scenario.deployment(OWNER, namespace, "web", replicas=shape["replicas"])
    spec = base.spec
    spec["metadata"]["labels"].update(shape["labels"])  # type: ignore[index]
    containers = [{k: v for k, v in c.items() if v != []} for c in shape["containers"]]
    spec["spec"]["template"]["spec"]["containers"] = containers  # type: ignore[index]
    return base


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=deployments(), second=deployments())
def test_any_applied_deployment_observes_back_without_drift(
    server: FakeApiServer, first: dict[str, Any], second: dict[str, Any]
) -> None:
    configuration = k8s.Configuration()
    configuration.host = server.url
    configuration.retries = retry_policy()
    with k8s.ApiClient(configuration) as api:
        namespace = f"prop-{next(_numbers)}"
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        driver = KubernetesDriver(api)
        scope = Scope("acme", "prod", {"namespace": namespace})
        for shape in (first, second):  # a create, then an update of the same object
            desired = [_desired(namespace, shape)]
            for change in plan_changes(desired, driver.observe(scope)):
                driver.apply(change)
            assert plan_changes(desired, driver.observe(scope)) == []
            for change in plan_changes(desired, []):
                assert not driver.apply(change).wrote
