"""The shared driver contract holds a faithful in-memory driver and catches broken ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    OwnerKey,
    Platform,
    ResourceRef,
)
from drivers.protocol import Applied, Health, Scope
from tests.drivers.contract import (
    CONTRACT_CHECKS,
    ContractCase,
    check_a_run_cut_off_halfway_converges,
    check_apply_creates_everything,
    check_applying_again_writes_nothing,
    check_deleting_twice_succeeds,
    check_dry_run_reports_the_real_run_and_keeps_nothing,
    plan_changes,
)


class MemoryDriver:
    """A faithful driver over a dict that stands for the platform."""

    platform: ClassVar[str] = "memory"

    def __init__(self, world: dict[ResourceRef, dict[str, Any]]) -> None:
        self.world = world

    def observe(self, scope: Scope) -> list[ObservedResource]:
        return [
            ObservedResource(ref, OwnerKey.parse(body["owner"]), dict(body["spec"]))
            for ref, body in self.world.items()
            if ref.scope == scope.site["folder"]
        ]

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        if change.action is Action.DELETE:
            wrote = change.ref in self.world
            if wrote and not dry_run:
                del self.world[change.ref]
            return Applied(change.ref, change.action, wrote)
        assert change.desired is not None
        body = {"owner": str(change.owner), "spec": dict(change.desired.spec)}
        wrote = self.world.get(change.ref) != body
        if wrote and not dry_run:
            self.world[change.ref] = body
        return Applied(change.ref, change.action, wrote)

    def health(self, ref: ResourceRef) -> Health:
        return Health(ready=ref in self.world)


class AlwaysWrites(MemoryDriver):
    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        applied = super().apply(change, dry_run=dry_run)
        return Applied(applied.ref, applied.action, wrote=True)


class KeepsDryRuns(MemoryDriver):
    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        return super().apply(change, dry_run=False)


class LeavesServerNoise(MemoryDriver):
    def observe(self, scope: Scope) -> list[ObservedResource]:
        return [
            ObservedResource(item.ref, item.owner, {**item.spec, "uid": "x"})
            for item in super().observe(scope)
        ]


class DuplicatesOnRetry(MemoryDriver):
    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        if change.action is Action.CREATE and change.ref in self.world and not dry_run:
            twin = ResourceRef(
                change.ref.platform, change.ref.kind, change.ref.name + "-1", change.ref.scope
            )
            self.world[twin] = {"owner": str(change.owner), "spec": dict(change.desired.spec)}
        return super().apply(change, dry_run=dry_run)


class FailsOnMissingDelete(MemoryDriver):
    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        if change.action is Action.DELETE and change.ref not in self.world:
            raise KeyError(change.ref)
        return super().apply(change, dry_run=dry_run)


def scenario(factory: Callable[[dict[ResourceRef, dict[str, Any]]], MemoryDriver]) -> ContractCase:
    world: dict[ResourceRef, dict[str, Any]] = {}
    owner = OwnerKey("acme", "prod", "shop", "web")
    desired = tuple(
        DesiredResource(
            ResourceRef(Platform.VSPHERE, "Thing", f"thing-{index}", "f1"),
            owner,
            {"name": f"thing-{index}", "size": index},
        )
        for index in range(5)
    )
    updated = (
        tuple(
            DesiredResource(item.ref, item.owner, {**item.spec, "size": 100})
            for item in desired[:2]
        )
        + desired[2:]
    )
    return ContractCase(
        make_driver=lambda: factory(world),
        scope=Scope("acme", "prod", {"folder": "f1"}),
        desired=desired,
        updated=updated,
    )


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_a_faithful_driver_keeps_every_check(check: Callable[[ContractCase], None]) -> None:
    check(scenario(MemoryDriver))


BROKEN = [
    (AlwaysWrites, check_applying_again_writes_nothing),
    (KeepsDryRuns, check_dry_run_reports_the_real_run_and_keeps_nothing),
    (LeavesServerNoise, check_apply_creates_everything),
    (DuplicatesOnRetry, check_applying_again_writes_nothing),
    (FailsOnMissingDelete, check_deleting_twice_succeeds),
    (AlwaysWrites, check_deleting_twice_succeeds),
]


@pytest.mark.parametrize(
    ("driver", "check"), BROKEN, ids=[f"{d.__name__}-{c.__name__}" for d, c in BROKEN]
)
def test_a_broken_driver_fails_the_check_that_guards_its_promise(
    driver: Callable[[dict[ResourceRef, dict[str, Any]]], MemoryDriver],
    check: Callable[[ContractCase], None],
) -> None:
    with pytest.raises((AssertionError, KeyError)):
        check(scenario(driver))


def test_a_half_applied_plan_needs_only_the_missing_half() -> None:
    case = scenario(MemoryDriver)
    changes = plan_changes(case.desired, [])
    driver = case.make_driver()
    for change in changes[:2]:
        driver.apply(change)
    rest = plan_changes(case.desired, driver.observe(case.scope))
    assert [change.ref.name for change in rest] == ["thing-2", "thing-3", "thing-4"]
    check_a_run_cut_off_halfway_converges(scenario(MemoryDriver))
