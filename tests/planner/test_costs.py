"""Cost: usage per resource kind, the price sheet, and the monthly before and after of a plan."""

from __future__ import annotations

from typing import Any

import pytest

from core.resources import ObservedResource
from planner.costs import PlatformPrices, PriceSheet, Usage, estimate, usage
from planner.plans import plan_environment
from planner.rendering import render_environment
from tests.planner.builders import app, view

GIB = 2**30
DEPLOYMENT: dict[str, Any] = {
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}
        },
    }
}

PVC = {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}
VM = {"cpu": 4, "memoryMiB": 8192, "bootDiskGiB": 40, "disks": [{"sizeGiB": 10}]}
USAGE = [
    ("Deployment", DEPLOYMENT, None, Usage(1500, 3 * GIB, 0)),
    ("Deployment", DEPLOYMENT, 1, Usage(500, GIB, 0)),
    ("PersistentVolumeClaim", PVC, None, Usage(0, 0, 10 * GIB)),
    ("VirtualMachine", VM, None, Usage(4000, 8 * GIB, 50 * GIB)),
    ("Service", {"spec": {}}, None, Usage()),
]


@pytest.mark.parametrize(("kind", "spec", "replicas", "used"), USAGE)
def test_usage_per_kind(kind: str, spec: dict[str, Any], replicas: int | None, used: Usage) -> None:
    assert usage(kind, spec, replicas=replicas) == used


def test_a_plan_prices_before_and_after_with_the_sheet() -> None:
    sheet = PriceSheet(
        kubernetes=PlatformPrices(vcpu=10, memory_gib=1, storage_gib=0),
        vsphere=PlatformPrices(vcpu=20, memory_gib=2, storage_gib=0.5),
    )
    web = view(app("web", replicas=2, resources={"cpu": "1", "memory": "2Gi"}))
    plan = plan_environment(web, [], prices=sheet)
    assert (plan.cost.before, plan.cost.after) == (0.0, 2 * (10 + 2))
    assert plan.cost.delta == 24.0
    assert plan.cost.by_platform == {"kubernetes": (0.0, 24.0)}


def test_an_autoscaled_deployment_is_priced_at_its_minimum() -> None:
    web = view(
        app(
            "web",
            replicas=5,
            autoscale={"min": 2, "max": 9},
            resources={"cpu": "1", "memory": "1Gi"},
        )
    )
    sheet = PriceSheet(kubernetes=PlatformPrices(vcpu=10, memory_gib=0, storage_gib=0))
    assert plan_environment(web, [], prices=sheet).cost.after == 20.0


def test_a_converged_environment_costs_the_same_before_and_after() -> None:
    web = view(app("web"), app("db", placement={"target": "vm"}))
    observed = [ObservedResource(r.ref, r.owner, r.spec) for r in render_environment(web)]
    cost = plan_environment(web, observed).cost
    assert cost.before == cost.after > 0
    assert estimate([], [], PriceSheet()).before == 0.0
