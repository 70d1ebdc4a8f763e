"""Rollout health by kubectl's rules, with the fake's controllers stepped by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from core.resources import OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.health import deployment as judge_deployment
from simulators.kubernetes import FakeApiServer
from tests.drivers.contract import plan_changes
from tests.drivers.kubernetes import scenario
from tests.drivers.kubernetes.conftest import DictSecrets

OWNER = OwnerKey("acme", "prod", "shop", "web")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server: FakeApiServer) -> Iterator[Clock]:
    fake, real = Clock(), server.controllers.clock
    server.controllers.clock = fake
    yield fake
    server.controllers.clock = real


@pytest.fixture
def timed_driver(api: k8s.ApiClient, secrets: DictSecrets, clock: Clock) -> KubernetesDriver:
    return KubernetesDriver(api, secrets=secrets, clock=clock)


def roll_out(
    driver: KubernetesDriver, namespace: str, *, image: str = "nginx:1.27", deadline: int = 60
) -> Any:
    desired = scenario.deployment(OWNER, namespace, "web", image=image, replicas=2)
    desired.spec["spec"]["progressDeadlineSeconds"] = deadline  # type: ignore[index]
    (change,) = plan_changes([desired], [])
    driver.apply(change)
    return change.ref


def test_a_rollout_is_ready_once_every_replica_is_updated_and_available(
    server: FakeApiServer, timed_driver: KubernetesDriver, namespace: str
) -> None:
    ref = roll_out(timed_driver, namespace)
    assert not timed_driver.health(ref).ready
    server.controllers.step()
    assert "1 out of 2 new replicas" in timed_driver.health(ref).message
    server.controllers.step()
    verdict = timed_driver.health(ref)
    assert verdict.ready
    assert not verdict.failed


def test_a_stuck_rollout_fails_at_its_progress_deadline(
    server: FakeApiServer, timed_driver: KubernetesDriver, namespace: str, clock: Clock
) -> None:
    server.faults.stuck_rollouts = True
    ref = roll_out(timed_driver, namespace, deadline=60)
    server.controllers.step()
    assert not timed_driver.health(ref).failed
    clock.now += 61
    server.controllers.step()
    verdict = timed_driver.health(ref)
    assert verdict.failed
    assert "exceeded its progress deadline" in verdict.message


def test_an_image_that_never_pulls_fails_the_rollout(
    server: FakeApiServer, timed_driver: KubernetesDriver, namespace: str, clock: Clock
) -> None:
    server.faults.failing_images = {"registry.test/missing:1"}
    ref = roll_out(timed_driver, namespace, image="registry.test/missing:1", deadline=30)
    for _ in range(3):
        server.controllers.step()
    assert "0 of 2 updated replicas are available" in timed_driver.health(ref).message
    clock.now += 31
    server.controllers.step()
    assert timed_driver.health(ref).failed


def test_the_driver_bounds_the_wait_even_when_the_cluster_never_reports_the_deadline(
    server: FakeApiServer, timed_driver: KubernetesDriver, namespace: str, clock: Clock
) -> None:
    server.faults.stuck_rollouts = True
    ref = roll_out(timed_driver, namespace, deadline=60)
    clock.now += 61  # the controller has not run since: no ProgressDeadlineExceeded yet
    verdict = timed_driver.health(ref)
    assert verdict.failed
    assert "did not roll out within 60 s" in verdict.message


def test_an_ingress_is_ready_once_it_has_an_address(
    server: FakeApiServer, driver: KubernetesDriver, namespace: str
) -> None:
    (change,) = plan_changes(
        [scenario.ingress(OWNER, namespace, "web", host="web.example.test")], []
    )
    driver.apply(change)
    assert not driver.health(change.ref).ready
    server.controllers.step()
    assert driver.health(change.ref).ready


ROLLOUTS = [
    ({"generation": 2}, {"observedGeneration": 1}, "to be observed", False),
    ({}, {"updatedReplicas": 3, "replicas": 4, "availableReplicas": 3}, "old replicas", False),
    ({}, {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}, "2 of 3 updated", False),
    (
        {},
        {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
        "successfully rolled out",
        True,
    ),
]


@pytest.mark.parametrize(("meta", "status", "message", "ready"), ROLLOUTS)
def test_kubectls_rollout_rules_in_order(
    meta: dict[str, Any], status: dict[str, Any], message: str, ready: bool
) -> None:
    obj = {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 1, **meta},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 1, **status},
    }
    verdict = judge_deployment(obj, elapsed=None)
    assert message in verdict.message
    assert verdict.ready is ready


def test_an_update_waits_for_the_old_replicas_to_go(
    server: FakeApiServer, timed_driver: KubernetesDriver, namespace: str
) -> None:
    ref = roll_out(timed_driver, namespace)
    for _ in range(2):
        server.controllers.step()
    assert timed_driver.health(ref).ready
    roll_out(timed_driver, namespace, image="nginx:1.28")
    messages = []
    for _ in range(4):
        server.controllers.step()
        messages.append(timed_driver.health(ref).message)
    assert any("old replicas are pending termination" in m for m in messages), messages
    assert timed_driver.health(ref).ready
