"""Ordering: every dependency respected, kinds ranked in an app, deletes reversed, no cycles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ManifestError
from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    OwnerKey,
    Platform,
    ResourceRef,
)
from planner.ordering import order_changes, rank
from planner.rendering import render_environment
from tests.planner.builders import app, view


def create(kind: str, name: str, app_name: str, *deps: ResourceRef) -> Change:
    ref = ResourceRef(Platform.KUBERNETES, kind, name, "ns")
    owner = OwnerKey("acme", "prod", app_name, kind.lower())
    return Change(
        Action.CREATE, ref, owner, desired=DesiredResource(ref, owner, {}, depends_on=deps)
    )


def delete(kind: str, name: str, app_name: str) -> Change:
    ref = ResourceRef(Platform.KUBERNETES, kind, name, "ns")
    owner = OwnerKey("acme", "prod", app_name, kind.lower())
    return Change(Action.DELETE, ref, owner, observed=ObservedResource(ref, owner, {}))


def positions(changes: list[Change]) -> dict[ResourceRef, int]:
    return {change.ref: index for index, change in enumerate(changes)}


def test_a_rendered_app_applies_namespace_secret_deployment_service_ingress_in_order() -> None:
    web = app(
        "web",
        env={"T_TOKEN": {"secretRef": {"path": "a", "key": "b"}}},
        expose={"host": "x.io", "port": "http"},
    )
    changes = [
        Change(Action.CREATE, r.ref, r.owner, desired=r) for r in render_environment(view(web))
    ]
    kinds = [c.ref.kind for c in order_changes(list(reversed(changes)))]
    assert kinds.index("Namespace") < kinds.index("Secret") < kinds.index("Deployment")
    assert kinds.index("Deployment") < kinds.index("Service") < kinds.index("Ingress")


def test_a_vm_app_applies_segment_then_vms_then_the_pool() -> None:
    db = app("db", placement={"target": "vm"}, replicas=2, expose={"host": "db.io", "port": "http"})
    changes = [
        Change(Action.CREATE, r.ref, r.owner, desired=r) for r in render_environment(view(db))
    ]
    kinds = [c.ref.kind for c in order_changes(changes)]
    assert kinds.index("Segment") < kinds.index("VirtualMachine") < kinds.index("LBPool")
    assert kinds.index("LBPool") < kinds.index("LBVirtualServer")


def test_depends_on_between_apps_puts_every_change_of_the_dependency_first() -> None:
    changes = [
        create("Deployment", "web", "web"),
        create("Service", "web", "web"),
        create("Deployment", "db", "db"),
    ]
    ordered = order_changes(changes, app_depends={"web": ["db"]})
    assert ordered[0].ref.name == "db"


def test_deletes_come_last_and_in_reverse_rank() -> None:
    changes = [delete("Namespace", "ns", "_environment"), delete("Ingress", "old", "old"),
               delete("Deployment", "old", "old"), create("Deployment", "new", "new")]  # fmt: skip
    ordered = [c.ref.kind for c in order_changes(changes)]
    assert ordered == ["Deployment", "Ingress", "Deployment", "Namespace"]
    assert order_changes(changes)[0].action is Action.CREATE


def test_a_dependency_cycle_between_apps_is_an_error_naming_them() -> None:
    changes = [create("Deployment", "a", "a"), create("Deployment", "b", "b")]
    with pytest.raises(ManifestError, match=r"cycle: (a -> b|b -> a)"):
        order_changes(changes, app_depends={"a": ["b"], "b": ["a"]})


def test_ranks_put_namespaces_first_and_ingresses_last() -> None:
    assert (
        rank(create("Namespace", "n", "x"))
        < rank(create("Secret", "s", "x"))
        < rank(create("Ingress", "i", "x"))
    )


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[Change], dict[str, list[str]]]:
    """Random resources with random backward dependencies, and random app dependencies."""
    apps = [f"app{i}" for i in range(draw(st.integers(1, 5)))]
    app_depends = {
        name: [a for a in apps[:index] if draw(st.booleans())] for index, name in enumerate(apps)
    }
    changes: list[Change] = []
    for index in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["Namespace", "Secret", "Deployment", "Service", "Ingress"]))
        owner = draw(st.sampled_from(apps))
        # as rendering does: a resource depends on earlier resources of its own app
        mine = [c.ref for c in changes if c.owner.app == owner and draw(st.booleans())]
        changes.append(create(kind, f"r{index}", owner, *mine[:3]))
    return draw(st.permutations(changes)), app_depends


@settings(max_examples=60, deadline=None)
@given(dags())
def test_ordering_respects_every_dependency(
    case: tuple[list[Change], dict[str, list[str]]],
) -> None:
    changes, app_depends = case
    ordered = order_changes(changes, app_depends=app_depends)
    assert sorted(map(str, (c.ref for c in ordered))) == sorted(map(str, (c.ref for c in changes)))
    where = positions(ordered)
    for change in ordered:
        assert change.desired is not None
        for dep in change.desired.depends_on:
            assert where[dep] < where[change.ref]
        for other in ordered:
            if other.owner.app in app_depends.get(change.owner.app, []):
                assert where[other.ref] < where[change.ref]
