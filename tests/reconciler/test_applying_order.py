"""The apply's dependency graph on the example repository's staging environment, where an app
that depends on another is also named by that other's firewall policy."""

from __future__ import annotations

import graphlib
import random
from pathlib import Path

import pytest

from core.errors import ManifestError
from core.resources import Action, Change, Platform, ResourceRef
from planner.loading import load_environment
from planner.rendering import render_environment
from reconciler.applying import ApplyLimits, Outcome, apply_changes, dependency_graph
from tests.reconciler.test_applying import ScriptedDriver, VirtualTime, change

EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"
STAGING = EXAMPLE / "environments" / "staging"


def staging_changes() -> tuple[list[Change], dict[str, list[str]]]:
    view = load_environment(STAGING, repo_root=EXAMPLE)
    creates = [Change(Action.CREATE, d.ref, d.owner, desired=d) for d in render_environment(view)]
    return creates, {name: list(app.spec.depends_on) for name, app in view.apps.items()}


def one(changes: list[Change], app: str, kind: str) -> ResourceRef:
    (ref,) = [c.ref for c in changes if c.owner.app == app and c.ref.kind == kind]
    return ref


def before(graph: dict[ResourceRef, set[ResourceRef]], ref: ResourceRef) -> set[ResourceRef]:
    """Everything ``ref`` waits for, directly or not."""
    seen: set[ResourceRef] = set()
    todo = [ref]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_the_example_staging_changes_order_without_a_cycle_and_keep_depends_on() -> None:
    changes, depends = staging_changes()
    assert depends["payments"] == ["db"]
    policy = [c for c in changes if c.owner.app == "db" and c.ref.kind == "SecurityPolicy"]
    assert one(changes, "payments", "Group") in policy[0].desired.depends_on  # type: ignore[union-attr]
    graph = dependency_graph(changes, depends)
    assert len(list(graphlib.TopologicalSorter(graph).static_order())) == len(changes)
    payments_vm, db_vm = (
        one(changes, "payments", "VirtualMachine"),
        one(changes, "db", "VirtualMachine"),
    )
    assert db_vm in before(graph, payments_vm)
    assert payments_vm not in before(graph, db_vm)


def test_payments_vms_start_only_once_the_db_vms_are_healthy() -> None:
    changes, depends = staging_changes()
    drivers = {p: ScriptedDriver() for p in Platform}
    db_vm = one(changes, "db", "VirtualMachine")
    drivers[Platform.VSPHERE].healthy_after[db_vm.name] = 3
    time, recorded = VirtualTime(), list[Outcome]()
    outcomes = apply_changes(
        changes, drivers=drivers, app_depends=depends, record=recorded.append,
        limits=ApplyLimits(per_driver=1, health_timeout=30.0, health_poll=5.0),
        sleep=time.sleep, clock=time.clock, rng=random.Random(1),
    )  # fmt: skip
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert len(outcomes) == len(changes)
    vms = drivers[Platform.VSPHERE].order
    assert vms.index(db_vm.name) < vms.index(one(changes, "payments", "VirtualMachine").name)
    assert drivers[Platform.VSPHERE].healthy_after[db_vm.name] == 0
    assert time.sleeps == [5.0] * 3


@pytest.mark.parametrize(
    ("depends", "cyclic"),
    [
        ({"web": ["db"], "db": ["web"]}, True),
        ({"web": ["db"]}, False),
    ],
)
def test_a_real_app_cycle_between_workloads_is_still_an_error(
    depends: dict[str, list[str]], cyclic: bool
) -> None:
    changes = [change("front", app="web"), change("store", app="db")]
    drivers = {Platform.KUBERNETES: ScriptedDriver()}
    if not cyclic:
        apply_changes(changes, drivers=drivers, app_depends=depends, record=lambda _: None)
        assert drivers[Platform.KUBERNETES].order == ["store", "front"]
        return
    with pytest.raises(ManifestError, match="cycle") as caught:
        apply_changes(changes, drivers=drivers, app_depends=depends, record=lambda _: None)
    assert "kubernetes:Deployment" in caught.value.message
    assert drivers[Platform.KUBERNETES].order == []
