"""The fake world's drivers keep the shared driver contract and refuse what is not theirs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import OwnershipConflict
from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    OwnerKey,
    Platform,
    ResourceRef,
)
from drivers.fake import FakeDriver, FakeKubernetes, FakeNsx, FakeVsphere, FakeWorld
from drivers.protocol import Driver, Scope
from tests.drivers.contract import CONTRACT_CHECKS, ContractCase

OWNER = OwnerKey("acme", "prod", "web", "vm-0")
SITES = {
    Platform.VSPHERE: {"folder": "acme-prod"},
    Platform.KUBERNETES: {"namespace": "acme-prod"},
    Platform.NSX: {},
}
KINDS = {
    Platform.VSPHERE: "VirtualMachine",
    Platform.KUBERNETES: "Deployment",
    Platform.NSX: "Segment",
}
SCOPES = {Platform.VSPHERE: "acme-prod", Platform.KUBERNETES: "acme-prod", Platform.NSX: ""}
DRIVERS: dict[Platform, Callable[[FakeWorld], FakeDriver]] = {
    Platform.VSPHERE: FakeVsphere,
    Platform.KUBERNETES: FakeKubernetes,
    Platform.NSX: FakeNsx,
}


def case(platform: Platform) -> ContractCase:
    world = FakeWorld()
    desired = tuple(
        DesiredResource(
            ResourceRef(platform, KINDS[platform], f"thing-{i}", SCOPES[platform]),
            OwnerKey("acme", "prod", "web", f"c{i}"),
            {"name": f"thing-{i}", "size": i},
        )
        for i in range(4)
    )
    updated = (
        tuple(DesiredResource(d.ref, d.owner, {**d.spec, "size": 99}) for d in desired[:2])
        + desired[2:]
    )
    return ContractCase(
        make_driver=lambda: DRIVERS[platform](world),
        scope=Scope("acme", "prod", SITES[platform]),
        desired=desired,
        updated=updated,
    )


@pytest.mark.parametrize("platform", list(DRIVERS), ids=lambda p: p.value)
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_each_fake_driver_keeps_the_contract(
    check: Callable[[ContractCase], None], platform: Platform
) -> None:
    check(case(platform))


def test_the_fake_drivers_are_drivers() -> None:
    assert all(isinstance(driver, Driver) for driver in FakeWorld().drivers().values())


def _vm(name: str, owner: OwnerKey | None, folder: str = "acme-prod") -> ObservedResource:
    return ObservedResource(
        ResourceRef(Platform.VSPHERE, "VirtualMachine", name, folder), owner, {"cpu": 1}
    )


def test_an_object_without_our_marker_is_never_overwritten_or_deleted() -> None:
    stranger = _vm("acme-prod-web-0", None)
    world = FakeWorld([stranger])
    driver = world.drivers()[Platform.VSPHERE]
    desired = DesiredResource(stranger.ref, OWNER, {"cpu": 2})
    with pytest.raises(OwnershipConflict):
        driver.apply(Change(Action.CREATE, stranger.ref, OWNER, desired=desired))
    with pytest.raises(OwnershipConflict):
        driver.apply(Change(Action.DELETE, stranger.ref, OWNER, observed=stranger))
    assert world.objects[stranger.ref] == stranger


def test_observe_returns_this_environment_and_unmarked_objects_in_scope_only() -> None:
    mine, unmarked = _vm("a", OWNER), _vm("b", None)
    other_env = _vm("c", OwnerKey("acme", "stage", "web", "vm-0"))
    other_folder = _vm("d", OWNER, folder="elsewhere")
    world = FakeWorld([mine, unmarked, other_env, other_folder])
    seen = world.drivers()[Platform.VSPHERE].observe(Scope("acme", "prod", {"folder": "acme-prod"}))
    assert [o.ref.name for o in seen] == ["a", "b"]
    assert world.observe(Scope("acme", "prod"), sites=SITES) == seen


def test_a_secret_is_kept_without_its_values() -> None:
    ref = ResourceRef(Platform.KUBERNETES, "Secret", "web-secrets", "acme-prod")
    desired = DesiredResource(ref, OWNER, {"kind": "Secret", "data": {"K": "dmFsdWU="}})
    world = FakeWorld()
    world.drivers()[Platform.KUBERNETES].apply(Change(Action.CREATE, ref, OWNER, desired=desired))
    assert world.objects[ref].spec == {"kind": "Secret"}
