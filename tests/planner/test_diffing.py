"""Diffing: digests first, field diffs for drift, ignore rules, classification and ownership."""

from __future__ import annotations

from typing import Any

import pytest

from core.resources import (
    Action,
    DesiredResource,
    FieldDiff,
    ObservedResource,
    OwnerKey,
    Platform,
    ResourceRef,
)
from planner.diffing import Diff, diff, is_conflict
from planner.fields import carry_over, field_diffs, without
from planner.manifests import IgnoreRule, Sync

OWNER = OwnerKey("acme", "prod", "web", "deployment")
REF = ResourceRef(Platform.KUBERNETES, "Deployment", "web", "acme-prod")
SPEC: dict[str, Any] = {"spec": {"replicas": 2, "template": {"image": "web:1", "ports": [80, 443]}}}
PRUNE = Sync(prune=True, confirmPrune=["vm", "volume"])


def want(
    spec: dict[str, Any], *, ref: ResourceRef = REF, immutable: tuple[str, ...] = ()
) -> DesiredResource:
    return DesiredResource(ref=ref, owner=OWNER, spec=spec, immutable=immutable)


def seen(
    spec: dict[str, Any], *, ref: ResourceRef = REF, owner: OwnerKey | None = OWNER
) -> ObservedResource:
    return ObservedResource(ref=ref, owner=owner, spec=spec)


def run(desired: list[DesiredResource], observed: list[ObservedResource], **kw: Any) -> Diff:
    kw.setdefault("sync", PRUNE)
    return diff(desired, observed, tenant="acme", environment="prod", **kw)


def test_equal_digests_need_no_change() -> None:
    result = run([want(SPEC)], [seen(SPEC)])
    assert (result.changes, result.unchanged) == ((), 1)


def test_a_missing_object_is_created() -> None:
    [change] = run([want(SPEC)], []).changes
    assert (change.action, change.desired, change.observed) == (Action.CREATE, want(SPEC), None)


def test_drift_is_an_update_with_dotted_field_diffs() -> None:
    drifted = {"spec": {"replicas": 5, "template": {"image": "web:1", "ports": [80, 443]}}}
    [change] = run([want(SPEC)], [seen(drifted)]).changes
    assert change.action is Action.UPDATE
    assert change.diffs == (FieldDiff("spec.replicas", 5, 2),)


@pytest.mark.parametrize(
    ("before", "after", "diffs"),
    [
        ({"a": [1, 2]}, {"a": [1, 3]}, [FieldDiff("a.1", 2, 3)]),
        ({"a": [1, 2]}, {"a": [1]}, [FieldDiff("a", [1, 2], [1])]),
        ({"a": {"b": 1}}, {"a": {}}, [FieldDiff("a.b", 1, None)]),
        ({}, {"x": {"y": True}}, [FieldDiff("x", None, {"y": True})]),
        ({"k": "1"}, {"k": 1}, [FieldDiff("k", "1", 1)]),
    ],
)
def test_field_diffs_name_each_changed_leaf(
    before: Any, after: Any, diffs: list[FieldDiff]
) -> None:
    assert field_diffs(before, after) == diffs


def test_an_immutable_field_forces_a_replace_that_needs_approval_for_vms() -> None:
    ref = ResourceRef(Platform.VSPHERE, "VirtualMachine", "acme-prod-web-0", "acme-prod")
    old = {"template": "ubuntu-22", "cpu": 2}
    new = {"template": "ubuntu-24", "cpu": 2}
    [change] = run([want(new, ref=ref, immutable=("template",))], [seen(old, ref=ref)]).changes
    assert change.action is Action.REPLACE
    assert change.needs_approval
    assert "template" in change.reason


SHRINKS = [
    ("PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
     {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}, Action.REPLACE),
    ("PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "10Gi"}}}},
     {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}, Action.UPDATE),
    ("VirtualMachine", {"disks": [{"name": "data", "sizeGiB": 50}], "bootDiskGiB": 40},
     {"disks": [{"name": "data", "sizeGiB": 20}], "bootDiskGiB": 40}, Action.REPLACE),
    ("VirtualMachine", {"disks": [], "bootDiskGiB": 60},
     {"disks": [], "bootDiskGiB": 40}, Action.REPLACE),
    ("VirtualMachine", {"disks": [{"name": "data", "sizeGiB": 50}], "bootDiskGiB": 40},
     {"disks": [{"name": "data", "sizeGiB": 80}], "bootDiskGiB": 40}, Action.UPDATE),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "old", "new", "action"), SHRINKS)
def test_a_smaller_volume_is_a_replace_and_a_larger_one_an_update(
    kind: str, old: dict[str, Any], new: dict[str, Any], action: Action
) -> None:
    ref = ResourceRef(
        Platform.VSPHERE if kind == "VirtualMachine" else Platform.KUBERNETES, kind, "x", "s"
    )
    [change] = run([want(new, ref=ref)], [seen(old, ref=ref)]).changes
    assert change.action is action
    assert change.needs_approval is (action is Action.REPLACE)


def test_an_owned_object_no_longer_declared_is_deleted_when_prune_is_on() -> None:
    gone = ResourceRef(Platform.VSPHERE, "VirtualMachine", "acme-prod-old-0", "acme-prod")
    svc = ResourceRef(Platform.KUBERNETES, "Service", "old", "acme-prod")
    owner = OwnerKey("acme", "prod", "old", "x")
    result = run([], [seen({}, ref=gone, owner=owner), seen({}, ref=svc, owner=owner)])
    approvals = {c.ref.kind: c.needs_approval for c in result.changes}
    assert approvals == {"VirtualMachine": True, "Service": False}
    assert all(c.action is Action.DELETE for c in result.changes)


def test_with_prune_off_undeclared_objects_are_kept_not_deleted() -> None:
    result = run([], [seen(SPEC)], sync=Sync(prune=False))
    assert result.changes == ()
    assert [item.ref for item in result.kept] == [REF]


@pytest.mark.parametrize(
    "owner",
    [None, OwnerKey("other", "prod", "web", "deployment"), OwnerKey("acme", "stage", "web", "x")],
)
def test_objects_not_ours_are_never_deleted(owner: OwnerKey | None) -> None:
    assert run([], [seen(SPEC, owner=owner)]).changes == ()


@pytest.mark.parametrize("owner", [None, OwnerKey("acme", "prod", "api", "deployment")])
def test_an_object_with_our_name_but_not_our_marker_is_a_conflict_never_adopted(
    owner: OwnerKey | None,
) -> None:
    [change] = run([want(SPEC)], [seen(SPEC, owner=owner)]).changes
    assert is_conflict(change)
    assert change.needs_approval
    assert "ownership conflict" in change.reason


IGNORE = [IgnoreRule(platform="kubernetes", kind="Deployment", path="spec.replicas")]


def test_drift_in_an_ignored_field_is_no_change() -> None:
    drifted = {"spec": {"replicas": 7, "template": {"image": "web:1", "ports": [80, 443]}}}
    result = run([want(SPEC)], [seen(drifted)], ignores={"web": IGNORE})
    assert (result.changes, result.unchanged) == ((), 1)


def test_an_update_keeps_the_observed_value_of_an_ignored_field() -> None:
    drifted = {"spec": {"replicas": 7, "template": {"image": "web:0", "ports": [80, 443]}}}
    [change] = run([want(SPEC)], [seen(drifted)], ignores={"web": IGNORE}).changes
    assert [d.path for d in change.diffs] == ["spec.template.image"]
    assert change.desired is not None
    assert change.desired.spec["spec"]["replicas"] == 7


def test_ignore_rules_of_another_kind_or_app_do_not_apply() -> None:
    drifted = {"spec": {"replicas": 7, "template": {"image": "web:1", "ports": [80, 443]}}}
    other_kind = [IgnoreRule(platform="kubernetes", kind="Service", path="spec.replicas")]
    assert run([want(SPEC)], [seen(drifted)], ignores={"web": other_kind}).changes
    assert run([want(SPEC)], [seen(drifted)], ignores={"api": IGNORE}).changes


def test_removing_and_carrying_paths_never_touches_the_input() -> None:
    spec = {"a": {"b": 1, "c": 2}}
    assert without(spec, ["a.b"]) == {"a": {"c": 2}}
    assert carry_over(spec, {"a": {"b": 9}}, ["a.b"]) == {"a": {"b": 9, "c": 2}}
    assert carry_over(spec, {"a": {}}, ["a.b"]) == {"a": {"c": 2}}
    assert spec == {"a": {"b": 1, "c": 2}}


VM = ResourceRef(Platform.VSPHERE, "VirtualMachine", "db-0", "acme-prod")
VM_SPEC: dict[str, Any] = {"cpu": 2, "memoryMiB": 4096, "powerState": "poweredOn"}


def _running_vm(spec: dict[str, Any], *, hot_add: bool) -> ObservedResource:
    status = {"cpuHotAdd": hot_add, "memoryHotAdd": hot_add}
    return ObservedResource(ref=VM, owner=OWNER, spec=spec, status=status)


@pytest.mark.parametrize(
    ("change", "hot_add", "reason"),
    [
        ({"cpu": 1}, True, "CPUs shrink from 2 to 1"),
        ({"memoryMiB": 2048}, True, "memory shrink from 4096 to 2048"),
        ({"cpu": 4}, False, "CPUs grow from 2 to 4 without hot add"),
        ({"memoryMiB": 8192}, False, "memory grow from 4096 to 8192 without hot add"),
        ({"cpu": 1, "memoryMiB": 8192}, False, "CPUs shrink from 2 to 1 and memory grow"),
    ],
)
def test_a_running_vm_that_needs_a_power_cycle_is_held_for_approval(
    change: dict[str, Any], hot_add: bool, reason: str
) -> None:
    """The power cycle is found at plan time, so the change waits for a person instead of
    failing with PowerCycleRequired when the driver meets it."""
    [planned] = run(
        [want({**VM_SPEC, **change}, ref=VM)], [_running_vm(VM_SPEC, hot_add=hot_add)]
    ).changes
    assert (planned.action, planned.needs_approval) == (Action.UPDATE, True)
    assert planned.reason.startswith(reason)
    assert planned.reason.endswith("the running VM needs a power cycle")


@pytest.mark.parametrize(
    ("change", "observed_power"),
    [
        ({"cpu": 4, "memoryMiB": 8192}, "poweredOn"),  # hot add covers growth
        ({"cpu": 1}, "poweredOff"),  # a stopped VM is reconfigured before it is started
        ({"annotation": "x"}, "poweredOn"),  # no CPU or memory change
    ],
)
def test_a_vm_change_without_a_power_cycle_needs_no_approval(
    change: dict[str, Any], observed_power: str
) -> None:
    observed = _running_vm({**VM_SPEC, "powerState": observed_power}, hot_add=True)
    [planned] = run([want({**VM_SPEC, **change}, ref=VM)], [observed]).changes
    assert (planned.action, planned.needs_approval, planned.reason) == (Action.UPDATE, False, "")


def test_a_snapshot_without_hot_add_facts_counts_as_no_hot_add() -> None:
    observed = ObservedResource(ref=VM, owner=OWNER, spec=VM_SPEC)
    [planned] = run([want({**VM_SPEC, "cpu": 4}, ref=VM)], [observed]).changes
    assert planned.needs_approval
