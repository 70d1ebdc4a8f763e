"""The diff of desired against observed resources: one cheap equality test each, field diffs
only for drift.

Called by ``planner.plans``. Classifies each resource as create, update, replace, delete or
unchanged, applies the manifests' ``ignore`` rules, and flags ownership conflicts. Specs are
compared with Python's deep equality (in C, stopping at the first difference), which for JSON
data is what comparing canonical digests decides, without serialising either side; the plan
digests each spec once, for its fingerprints only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.resources import Action, Change, DesiredResource, FieldDiff, ObservedResource, ResourceRef
from planner.fields import carry_over, field_diffs, get_path, without
from planner.manifests import IgnoreRule, Sync
from planner.quantities import parse_bytes

# The confirmPrune kind of each resource kind; a kind not listed never needs approval.
PRUNE_KINDS = {
    "VirtualMachine": "vm",
    "PersistentVolumeClaim": "volume",
    "Namespace": "namespace",
    "Deployment": "deployment",
    "Service": "service",
    "Ingress": "ingress",
    "Secret": "secret",
    "NetworkPolicy": "firewall",
    "Segment": "segment",
    "Group": "firewall",
    "SecurityPolicy": "firewall",
    "LBPool": "load-balancer",
    "LBVirtualServer": "load-balancer",
}
# Names people write in an ignore rule's `kind`, beside the resource kinds themselves.
KIND_ALIASES = {
    "vm": "VirtualMachine",
    "pvc": "PersistentVolumeClaim",
    "hpa": "HorizontalPodAutoscaler",
}


@dataclass(frozen=True)
class Diff:
    """The outcome of one diff: the changes (unordered), and what needed none."""

    changes: tuple[Change, ...]
    unchanged: int
    kept: tuple[ObservedResource, ...] = field(default=())
    """Owned objects the repository no longer declares, left alone because prune is off."""


def is_conflict(change: Change) -> bool:
    """True for an object with our name that does not carry our ownership marker."""
    return change.action is Action.CREATE and change.observed is not None


def _kind_of(rule: IgnoreRule) -> str:
    return KIND_ALIASES.get(rule.kind.lower(), rule.kind).lower()


def ignored_paths(rules: Iterable[IgnoreRule], ref: ResourceRef) -> tuple[str, ...]:
    """The paths an app's ignore rules leave alone on ``ref``."""
    kind = ref.kind.lower()
    return tuple(
        rule.path
        for rule in rules
        if rule.platform == ref.platform.value and _kind_of(rule) == kind
    )


def _approval(kind: str, sync: Sync) -> bool:
    return PRUNE_KINDS.get(kind) in set(sync.confirm_prune)


def _smaller_volume(
    ref: ResourceRef, before: Mapping[str, object], after: Mapping[str, object]
) -> str:
    """Why a change shrinks storage (which no platform does in place), or an empty string."""
    if ref.kind == "PersistentVolumeClaim":
        path = "spec.resources.requests.storage"
        old, new = get_path(before, path), get_path(after, path)
        if isinstance(old, str) and isinstance(new, str) and parse_bytes(new) < parse_bytes(old):
            return f"volume shrinks from {old} to {new}"
    if ref.kind == "VirtualMachine":
        sizes = {d["name"]: d["sizeGiB"] for d in _disks(before)}
        for disk in _disks(after):
            old_size = sizes.get(disk["name"])
            if isinstance(old_size, int) and disk["sizeGiB"] < old_size:
                return f"disk {disk['name']} shrinks from {old_size} to {disk['sizeGiB']} GiB"
        old_boot, new_boot = before.get("bootDiskGiB"), after.get("bootDiskGiB")
        if isinstance(old_boot, int) and isinstance(new_boot, int) and new_boot < old_boot:
            return f"boot disk shrinks from {old_boot} to {new_boot} GiB"
    return ""


def _disks(spec: Mapping[str, object]) -> list[dict[str, Any]]:
    disks = spec.get("disks")
    if not isinstance(disks, list):
        return []
    return [d for d in disks if isinstance(d, dict) and isinstance(d.get("sizeGiB"), int)]


def _power_cycle(want: DesiredResource, found: ObservedResource) -> str:
    """Why updating a running VM to ``want`` needs it powered off and on, or ''.

    vSphere shrinks nothing in a running guest and grows CPU or memory only where hot add is
    on; the driver reads hot add into ``status``. A snapshot without it counts as off, so the
    change is held rather than failing at apply time.
    """
    if want.ref.kind != "VirtualMachine" or want.ref.platform.value != "vsphere":
        return ""
    on = "poweredOn"
    if found.spec.get("powerState") != on or want.spec.get("powerState") != on:
        return ""
    reasons = []
    for field_name, hot_add, label in (("cpu", "cpuHotAdd", "CPUs"),
                                       ("memoryMiB", "memoryHotAdd", "memory")):  # fmt: skip
        before, after = found.spec.get(field_name), want.spec.get(field_name)
        if not isinstance(before, int) or not isinstance(after, int) or before == after:
            continue
        if after < before:
            reasons.append(f"{label} shrink from {before} to {after}")
        elif not found.status.get(hot_add):
            reasons.append(f"{label} grow from {before} to {after} without hot add")
    if not reasons:
        return ""
    return f"{' and '.join(reasons)}: the running VM needs a power cycle"


def _touches(diffs: Sequence[FieldDiff], path: str) -> bool:
    return any(
        d.path == path or d.path.startswith(path + ".") or path.startswith(d.path + ".")
        for d in diffs
    )


def _changed(
    want: DesiredResource, found: ObservedResource, paths: tuple[str, ...], *, sync: Sync
) -> Change | None:
    """The update or replace taking ``found`` to ``want``, or ``None`` when they agree."""
    if paths:
        before, after = without(found.spec, paths), without(want.spec, paths)
        if before == after:
            return None
        want = DesiredResource(
            want.ref, want.owner, carry_over(want.spec, found.spec, paths),
            want.depends_on, want.immutable, want.secrets,
        )  # fmt: skip
    elif want.spec == found.spec:
        return None
    diffs = tuple(field_diffs(found.spec, want.spec))
    immutable = next((p for p in want.immutable if _touches(diffs, p)), "")
    shrink = _smaller_volume(want.ref, found.spec, want.spec)
    if immutable or shrink:
        reason = shrink or f"{immutable} cannot change in place"
        return Change(
            Action.REPLACE, want.ref, want.owner, desired=want, observed=found, diffs=diffs,
            needs_approval=_approval(want.ref.kind, sync), reason=reason,
        )  # fmt: skip
    cycle = _power_cycle(want, found)
    return Change(
        Action.UPDATE, want.ref, want.owner, desired=want, observed=found, diffs=diffs,
        needs_approval=bool(cycle), reason=cycle,
    )  # fmt: skip


def _conflict(want: DesiredResource, found: ObservedResource) -> Change:
    holder = "no ownership marker" if found.owner is None else f"owner {found.owner}"
    return Change(
        Action.CREATE, want.ref, want.owner, desired=want, observed=found, needs_approval=True,
        reason=f"ownership conflict: an object with this name exists with {holder}; never adopted",
    )  # fmt: skip


def diff(
    desired: Sequence[DesiredResource],
    observed: Sequence[ObservedResource],
    *,
    tenant: str,
    environment: str,
    sync: Sync,
    ignores: Mapping[str, Sequence[IgnoreRule]] | None = None,
) -> Diff:
    """Compare desired with observed resources of one environment.

    Args:
        desired: what the manifests render to.
        observed: what the drivers read back (or a snapshot holds).
        tenant: the environment's tenant; only objects it owns are ever deleted.
        environment: the environment's name.
        sync: prune and confirmPrune settings.
        ignores: each app's ignore rules, by app name.
    """
    rules = ignores or {}
    seen = {item.ref: item for item in observed}
    changes: list[Change] = []
    unchanged = 0
    for want in desired:
        found = seen.pop(want.ref, None)
        if found is None:
            changes.append(Change(Action.CREATE, want.ref, want.owner, desired=want))
        elif found.owner != want.owner:
            changes.append(_conflict(want, found))
        else:
            app_rules = rules.get(want.owner.app)
            paths = ignored_paths(app_rules, want.ref) if app_rules else ()
            if not paths and want.spec == found.spec:  # the common case, kept cheap
                unchanged += 1
                continue
            change = _changed(want, found, paths, sync=sync)
            unchanged += change is None
            if change is not None:
                changes.append(change)
    kept: list[ObservedResource] = []
    for found in seen.values():
        owner = found.owner
        if owner is None or (owner.tenant, owner.environment) != (tenant, environment):
            continue  # not ours: never deleted, whatever its name
        if not sync.prune:
            kept.append(found)
            continue
        changes.append(
            Change(
                Action.DELETE, found.ref, owner, observed=found,
                needs_approval=_approval(found.ref.kind, sync),
                reason="no longer declared in the repository (prune is on)",
            )
        )  # fmt: skip
    return Diff(tuple(changes), unchanged, tuple(kept))
