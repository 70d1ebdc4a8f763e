"""How the example repository's recorded snapshots were made: a converged world, then drift.

``RXT_REGENERATE_GOLDEN=1 pytest tests/planner/test_plans_golden.py`` rewrites the snapshots in
example-repo/snapshots/ and the golden renderings from these scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.resources import Action, Change, ObservedResource, OwnerKey, Platform, ResourceRef
from drivers.fake import FakeWorld
from planner.loading import LoadedEnvironment
from planner.rendering import render_environment
from tests.planner.builders import EXAMPLE, example

SNAPSHOTS = EXAMPLE / "snapshots"
COMMIT = "9f1c2ab7d4e5f60718293a4b5c6d7e8f90a1b2c3"


def converged(view: LoadedEnvironment) -> FakeWorld:
    """A world where every desired resource of ``view`` was applied by the fake drivers."""
    world = FakeWorld()
    drivers = world.drivers()
    for item in render_environment(view):
        drivers[item.ref.platform].apply(Change(Action.CREATE, item.ref, item.owner, desired=item))
    return world


def _edit(world: FakeWorld, ref: ResourceRef, change: Callable[[dict[str, Any]], None]) -> None:
    item = world.objects[ref]
    spec = _copy(item.spec)
    change(spec)
    world.objects[ref] = ObservedResource(
        ref, item.owner, spec, item.external_id, str(int(item.version) + 1)
    )


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _k8s(kind: str, name: str, namespace: str) -> ResourceRef:
    return ResourceRef(Platform.KUBERNETES, kind, name, namespace)


def _set_replicas(spec: dict[str, Any]) -> None:
    spec["spec"]["replicas"] = 5


def _old_image(spec: dict[str, Any]) -> None:
    spec["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.acme.example/acme/web:2.3.0"
    )


def prod() -> FakeWorld:
    """prod: a hand-scaled api, web one release behind, a missing virtual server, and a retired
    app whose objects are still there."""
    world = converged(example("prod"))
    _edit(world, _k8s("Deployment", "api", "acme-prod"), _set_replicas)
    _edit(world, _k8s("Deployment", "web", "acme-prod"), _old_image)
    del world.objects[ResourceRef(Platform.NSX, "LBVirtualServer", "acme-prod-payments-vs")]
    owner = OwnerKey("acme", "prod", "reports", "deployment")
    legacy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "reports"}}
    world.objects[_k8s("Deployment", "reports", "acme-prod")] = ObservedResource(
        _k8s("Deployment", "reports", "acme-prod"), owner, legacy, "fake-900", "3"
    )
    vm = ResourceRef(Platform.VSPHERE, "VirtualMachine", "acme-prod-reports-0", "acme-prod")
    world.objects[vm] = ObservedResource(
        vm,
        OwnerKey("acme", "prod", "reports", "vm-0"),
        {"name": vm.name, "cpu": 2, "memoryMiB": 4096},
        "vm-77",
        "1",
    )
    return world


def _bigger_disk(spec: dict[str, Any]) -> None:
    spec["disks"][0]["sizeGiB"] = 50


def staging() -> FakeWorld:
    """staging: db's data disk is larger than the repository now asks (a shrink is a replace),
    worker was never applied, and someone created api's secret by hand, without our marker."""
    world = converged(example("staging"))
    _edit(
        world,
        ResourceRef(Platform.VSPHERE, "VirtualMachine", "acme-staging-db-0", "acme-staging"),
        _bigger_disk,
    )
    del world.objects[_k8s("Deployment", "worker", "acme-staging")]
    secret = _k8s("Secret", "api-secrets", "acme-staging")
    found = world.objects[secret]
    world.objects[secret] = ObservedResource(
        secret, None, {"apiVersion": "v1", "kind": "Secret"}, "uid-1", "1"
    )
    del found
    return world


SCENARIOS: dict[str, Callable[[], FakeWorld]] = {"prod": prod, "staging": staging}
