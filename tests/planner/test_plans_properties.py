"""The plan's promises, for generated environments: a state planned against itself is empty, and
applying a plan to the fake world then planning again is empty."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.resources import Action, ObservedResource, OwnerKey, Platform, ResourceRef
from drivers.fake import FakeWorld
from planner.plans import plan_environment
from planner.rendering import render_environment
from tests.planner.builders import View, app, view

NAMES = ["alpha", "beta", "gamma", "delta"]
SECRET = {"secretRef": {"path": "shop/db", "key": "password"}}
PORTS = [
    [],
    [{"name": "http", "port": 8080}],
    [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090}],
]
IGNORE = [{"platform": "kubernetes", "kind": "Deployment", "path": "spec.replicas"}]


@st.composite
def app_specs(
    draw: st.DrawFn, name: str, earlier: list[str], everyone: list[str]
) -> dict[str, Any]:
    ports = draw(st.sampled_from(PORTS))
    compliance = draw(st.sampled_from([[], ["soc2"], ["pci-dss"]]))
    target = draw(st.sampled_from(["auto", "vm", "kubernetes"]))
    if compliance == ["pci-dss"] and target == "kubernetes":
        target = "auto"  # a manifest error, tested in test_placement
    cpu, memory = draw(st.sampled_from(["250m", "1"])), draw(st.sampled_from(["256Mi", "1Gi"]))
    env = st.dictionaries(st.sampled_from(["MODE", "DB_PASSWORD"]), st.sampled_from(["a", SECRET]))
    spec: dict[str, Any] = {
        "image": f"registry.example.com/{name}:{draw(st.integers(1, 3))}.0",
        "replicas": draw(st.integers(1, 3)),
        "resources": {"cpu": cpu, "memory": memory},
        "ports": ports,
        "env": draw(env),
        "dependsOn": [other for other in earlier if draw(st.booleans())],
        "network": {
            "allowFrom": [other for other in everyone if other != name and draw(st.booleans())],
            "egress": draw(st.sampled_from([[], ["10.0.0.0/8:443"]])),
        },
        "placement": {"target": target, "compliance": compliance},
    }
    if ports and draw(st.booleans()):
        spec["expose"] = {"host": f"{name}.example.com", "port": "http", "tls": draw(st.booleans())}
    if draw(st.booleans()):
        spec["volumes"] = [
            {"name": "data", "size": draw(st.sampled_from(["1Gi", "3Gi"])), "mountPath": "/d"}
        ]
    if draw(st.booleans()):
        spec["autoscale"] = {"min": 1, "max": 4}
    if draw(st.booleans()):
        spec["ignore"] = IGNORE
    return spec


@st.composite
def environments(draw: st.DrawFn) -> View:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    apps = [
        app(name, **draw(app_specs(name, names[:index], names))) for index, name in enumerate(names)
    ]
    return view(*apps)


def as_observed(view_: View) -> list[ObservedResource]:
    return [ObservedResource(r.ref, r.owner, r.spec) for r in render_environment(view_)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(environments())
def test_a_state_planned_against_itself_is_empty(view_: View) -> None:
    observed = as_observed(view_)
    plan = plan_environment(view_, observed)
    assert plan.changes == ()
    assert plan.unchanged == len(observed)
    assert plan.cost.before == plan.cost.after


@st.composite
def worlds(draw: st.DrawFn, view_: View) -> FakeWorld:
    """Some of the desired objects, some drifted, some of an immutable field, plus orphans."""
    world = FakeWorld()
    for item in render_environment(view_):
        if not draw(st.booleans()):
            continue
        spec = dict(item.spec)
        drift = draw(st.sampled_from(["none", "field", "immutable", "replicas"]))
        if drift == "field":
            spec["drifted"] = True
        elif drift == "immutable" and item.immutable:
            spec[item.immutable[0].split(".")[0]] = "something else"
        elif drift == "replicas" and item.ref.kind == "Deployment":
            spec["spec"] = {**spec["spec"], "replicas": 9}
        world.objects[item.ref] = ObservedResource(item.ref, item.owner, spec, "id", "1")
    for index in range(draw(st.integers(0, 3))):
        ref = ResourceRef(Platform.KUBERNETES, "Service", f"retired-{index}", "acme-prod")
        world.objects[ref] = ObservedResource(
            ref, OwnerKey("acme", "prod", "retired", f"s{index}"), {"x": index}
        )
    return world


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_applying_a_plan_to_the_fake_world_then_planning_again_is_empty(
    data: st.DataObject,
) -> None:
    view_ = data.draw(environments())
    world = data.draw(worlds(view_))
    drivers = world.drivers()
    first = plan_environment(view_, world.everything())
    for change in first.changes:
        drivers[change.ref.platform].apply(change)
    second = plan_environment(view_, world.everything())
    assert second.changes == (), [f"{c.action} {c.ref} {c.diffs}" for c in second.changes]
    assert not any(c.action is Action.DELETE for c in second.changes)
    assert not any(o.ref.name.startswith("retired-") for o in world.everything())
