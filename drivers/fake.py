"""An in-memory world with a faithful driver per platform, for property tests and benchmarks.

Keeps the driver contract (idempotent apply, dry runs that keep nothing, deletes that succeed
twice, never touching an object without our marker) without any server behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from core.errors import InvalidRequest, OwnershipConflict
from core.resources import Action, Change, ObservedResource, Platform, ResourceRef
from drivers.protocol import Applied, Health, Scope

_SECRET_VALUES = ("data", "stringData")
# Which site setting of a scope holds each platform's scope value; NSX objects are global.
_SCOPE_SETTING = {Platform.KUBERNETES: "namespace", Platform.VSPHERE: "folder"}


class FakeWorld:
    """Every platform's objects, by reference, and a count of the writes made."""

    def __init__(self, objects: Iterable[ObservedResource] = ()) -> None:
        self.objects: dict[ResourceRef, ObservedResource] = {item.ref: item for item in objects}
        self.writes = 0
        self._serial = 0

    def everything(self) -> list[ObservedResource]:
        """All objects, sorted by reference."""
        return [self.objects[ref] for ref in sorted(self.objects)]

    def next_id(self) -> str:
        """A new platform id, as a real platform would hand out."""
        self._serial += 1
        return f"fake-{self._serial}"

    def drivers(self) -> dict[Platform, FakeDriver]:
        """One driver per platform the planner renders for, sharing this world."""
        return {cls.kind: cls(self) for cls in (FakeKubernetes, FakeVsphere, FakeNsx)}

    def observe(
        self, scope: Scope, *, sites: Mapping[Platform, Mapping[str, Any]]
    ) -> list[ObservedResource]:
        """What every driver observes for one environment, as the reconciler gathers it."""
        found: list[ObservedResource] = []
        for platform, driver in self.drivers().items():
            site = sites.get(platform)
            if site is not None:
                found.extend(driver.observe(Scope(scope.tenant, scope.environment, site)))
        return found


def normalise(ref: ResourceRef, spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a real driver reads back: a Kubernetes Secret without its values."""
    if ref.platform is Platform.KUBERNETES and ref.kind == "Secret":
        return {key: value for key, value in spec.items() if key not in _SECRET_VALUES}
    return dict(spec)


class FakeDriver:
    """The driver of one platform over a shared ``FakeWorld``."""

    platform: ClassVar[str] = ""
    kind: ClassVar[Platform]

    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def _in_scope(self, item: ObservedResource, scope: Scope) -> bool:
        setting = _SCOPE_SETTING.get(self.kind)
        if setting is None or item.ref.scope == "":
            return True
        return item.ref.scope == scope.site.get(setting)

    def observe(self, scope: Scope) -> list[ObservedResource]:
        """Objects of this platform in ``scope`` that carry the environment's marker, plus
        unmarked objects there (whose names may collide with ours)."""
        found = []
        for item in self.world.everything():
            if item.ref.platform is not self.kind or not self._in_scope(item, scope):
                continue
            owner = item.owner
            if owner is None or (owner.tenant, owner.environment) == (
                scope.tenant,
                scope.environment,
            ):
                found.append(item)
        return found

    def _guard(self, change: Change, existing: ObservedResource | None) -> None:
        if change.ref.platform is not self.kind:
            raise InvalidRequest(
                f"{change.ref} is not a {self.kind.value} object", resource=str(change.ref)
            )
        if existing is not None and existing.owner != change.owner:
            holder = existing.owner or "no marker"
            raise OwnershipConflict(
                f"{change.ref} exists with owner {holder}, not {change.owner}",
                hint="rename the object or remove it by hand; RXT Deploy never adopts it",
                resource=str(change.ref),
            )

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        """Create, update, replace or delete one object; converged changes write nothing."""
        existing = self.world.objects.get(change.ref)
        if change.action is Action.NOOP:
            return Applied(change.ref, change.action, wrote=False)
        if change.action is Action.DELETE:
            return self._delete(change, existing, dry_run=dry_run)
        self._guard(change, existing)
        if change.desired is None:
            raise InvalidRequest(f"{change.action} of {change.ref} carries no desired spec")
        spec = normalise(change.ref, change.desired.spec)
        fresh = ObservedResource(
            ref=change.ref,
            owner=change.owner,
            spec=spec,
            external_id=existing.external_id if existing else "",
            version=str(int(existing.version or 0) + 1) if existing else "1",
        )
        if existing is not None and existing.digest == fresh.digest:
            return Applied(change.ref, change.action, wrote=False, external_id=existing.external_id)
        if dry_run:
            return Applied(change.ref, change.action, wrote=True)
        if not fresh.external_id:
            fresh = ObservedResource(
                fresh.ref, fresh.owner, spec, self.world.next_id(), fresh.version
            )
        self.world.objects[change.ref] = fresh
        self.world.writes += 1
        return Applied(change.ref, change.action, wrote=True, external_id=fresh.external_id)

    def _delete(
        self, change: Change, existing: ObservedResource | None, *, dry_run: bool
    ) -> Applied:
        if existing is None:
            return Applied(change.ref, change.action, wrote=False)
        self._guard(change, existing)
        if not dry_run:
            del self.world.objects[change.ref]
            self.world.writes += 1
        return Applied(change.ref, change.action, wrote=True)

    def health(self, ref: ResourceRef) -> Health:
        """Ready as soon as the object exists."""
        if ref in self.world.objects:
            return Health(ready=True)
        return Health(ready=False, message=f"{ref} does not exist")


class FakeKubernetes(FakeDriver):
    platform: ClassVar[str] = Platform.KUBERNETES.value
    kind: ClassVar[Platform] = Platform.KUBERNETES


class FakeVsphere(FakeDriver):
    platform: ClassVar[str] = Platform.VSPHERE.value
    kind: ClassVar[Platform] = Platform.VSPHERE


class FakeNsx(FakeDriver):
    platform: ClassVar[str] = Platform.NSX.value
    kind: ClassVar[Platform] = Platform.NSX
