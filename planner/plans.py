"""The plan: placements, ordered changes, policy verdict and cost of one environment at one commit.

``plan_environment`` is the planner's entry point for the reconciler, PR previews and ``rxt plan``.
The plan id digests everything the plan depends on, so an apply can refuse a stale plan.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    SecretRef,
)
from planner import costs, policy
from planner.bundles import build_bundle
from planner.costs import CostEstimate, PriceSheet
from planner.diffing import diff, is_conflict
from planner.fields import spec_digest
from planner.ordering import order_changes
from planner.placement import EnvironmentView, Placement, place_environment, placement_summary
from planner.policy import PolicyOverride, PolicyReport
from planner.rendering import render_placed


@dataclass(frozen=True)
class Plan:
    """One environment's plan.

    Attributes:
        id: digest of commit, environment, desired state, observed fingerprint, policy digest.
        changes: the actionable changes in apply order (no-ops are only counted).
        unchanged: how many desired resources already match.
        kept: owned objects the repository dropped, left alone because prune is off.
    """

    id: str
    tenant: str
    environment: str
    commit: str
    placements: Mapping[str, Placement]
    changes: tuple[Change, ...]
    unchanged: int
    kept: tuple[ObservedResource, ...]
    policy: PolicyReport
    cost: CostEstimate
    desired_digest: str
    observed_fingerprint: str

    @property
    def has_changes(self) -> bool:
        """True when applying the plan would change something."""
        return bool(self.changes)

    def count(self, action: Action) -> int:
        """How many changes take ``action``; conflicts are not counted as adds."""
        return sum(c.action is action and not is_conflict(c) for c in self.changes)

    @property
    def conflicts(self) -> tuple[Change, ...]:
        """Changes blocked by an object with our name that is not ours."""
        return tuple(c for c in self.changes if is_conflict(c))


def desired_digest(desired: Iterable[DesiredResource]) -> str:
    """A digest of the whole desired state: every reference, owner and spec digest."""
    return spec_digest(sorted([str(d.ref), str(d.owner), spec_digest(d.spec)] for d in desired))


def observed_fingerprint(observed: Iterable[ObservedResource]) -> str:
    """A digest of what was observed; an apply refuses a plan whose world has moved."""
    rows = [[str(o.ref), str(o.owner or ""), spec_digest(o.spec), o.version] for o in observed]
    return spec_digest(sorted(rows))


def plan_id(*, commit: str, environment: str, desired: str, observed: str, policy: str) -> str:
    """The plan's identity."""
    parts = {"commit": commit, "environment": environment, "desired": desired}
    return spec_digest({**parts, "observed": observed, "policy": policy})


def _change_doc(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "platform": change.ref.platform.value,
        "kind": change.ref.kind,
        "name": change.ref.name,
        "scope": change.ref.scope,
        "app": change.owner.app,
        "owner": str(change.owner),
        "before": dict(change.observed.spec) if change.observed else None,
        "after": dict(change.desired.spec) if change.desired else None,
        "diffs": [d.path for d in change.diffs],
        "needs_approval": change.needs_approval,
        "conflict": is_conflict(change),
    }


def _summary(desired: Sequence[DesiredResource]) -> dict[str, Any]:
    by_platform: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for item in desired:
        by_platform[item.ref.platform.value] = by_platform.get(item.ref.platform.value, 0) + 1
        by_kind[item.ref.kind] = by_kind.get(item.ref.kind, 0) + 1
    return {"count": len(desired), "by_platform": by_platform, "by_kind": by_kind}


def policy_input(
    view: EnvironmentView,
    placements: Mapping[str, Placement],
    *,
    changes: Sequence[Change] = (),
    desired: Sequence[DesiredResource] = (),
) -> dict[str, Any]:
    """The document every Rego rule reads as ``input`` (shape in docs/policies.md)."""
    env = view.environment
    summary = placement_summary(placements)
    apps = {}
    for name, app in sorted(view.apps.items()):
        doc = app.model_dump(mode="json", by_alias=True, exclude_none=True)
        apps[name] = {"metadata": doc["metadata"], "spec": doc["spec"]}
    spec = env.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "environment": {"name": env.metadata.name, "tenant": env.metadata.tenant, **spec},
        "apps": apps,
        "placements": summary,
        "changes": [_change_doc(change) for change in changes],
        "desired": _summary(desired),
    }


def _cost_items(resources: Iterable[DesiredResource | ObservedResource]) -> list[costs.Item]:
    return [(r.ref.platform, r.ref.kind, r.ref.name, r.spec) for r in resources]


def plan_environment(
    view: EnvironmentView,
    observed: Sequence[ObservedResource],
    *,
    commit: str = "",
    secret_versions: Mapping[SecretRef, int] | None = None,
    overrides: Sequence[PolicyOverride] = (),
    prices: PriceSheet | None = None,
) -> Plan:
    """Plan one environment against what was observed.

    Args:
        view: the loaded environment.
        observed: every object the drivers (or a snapshot) report for the environment.
        commit: the commit the manifests come from.
        secret_versions: Vault versions of the secret references, when read.
        overrides: approvals of soft-mandatory policy denials.
        prices: the price sheet; the defaults when ``None``.

    Raises:
        ManifestError: a placement conflict, a missing site, or a dependsOn cycle.
    """
    with _cyclic_gc_paused():
        return _plan(view, observed, commit=commit, secret_versions=secret_versions,
                     overrides=overrides, prices=prices)  # fmt: skip


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a plan is built.

    A plan allocates a few objects per field of every resource and frees little until it
    returns; every full collection walks all of them, so collections alone made a 10k-resource
    plan grow faster than linearly. Reference counting still frees what is dropped.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan(
    view: EnvironmentView,
    observed: Sequence[ObservedResource],
    *,
    commit: str,
    secret_versions: Mapping[SecretRef, int] | None,
    overrides: Sequence[PolicyOverride],
    prices: PriceSheet | None,
) -> Plan:
    env = view.environment
    tenant, name = env.metadata.tenant, env.metadata.name
    placements = place_environment(view)
    desired = render_placed(view, placements, secret_versions=secret_versions)
    ignores = {app: item.spec.ignore for app, item in view.apps.items()}
    found = diff(
        desired, observed, tenant=tenant, environment=name, sync=env.spec.sync, ignores=ignores
    )
    depends = {app: item.spec.depends_on for app, item in view.apps.items()}
    ordered = order_changes(found.changes, app_depends=depends)

    bundle = build_bundle(env.spec.policy.packs, view.policy_files)
    document = policy_input(view, placements, changes=ordered, desired=desired)
    enforcement = {str(k): str(v) for k, v in env.spec.policy.enforcement.items()}
    report = policy.evaluate(
        bundle, document, placements=placements, enforcement=enforcement, overrides=overrides
    )

    ours = [
        o for o in observed if o.owner and (o.owner.tenant, o.owner.environment) == (tenant, name)
    ]
    cost = costs.estimate(
        _cost_items(ours), _cost_items([*desired, *found.kept]), prices or PriceSheet()
    )
    wanted, seen = desired_digest(desired), observed_fingerprint(observed)
    ident = plan_id(
        commit=commit,
        environment=f"{tenant}/{name}",
        desired=wanted,
        observed=seen,
        policy=bundle.digest,
    )
    return Plan(
        id=ident, tenant=tenant, environment=name, commit=commit, placements=placements,
        changes=tuple(ordered), unchanged=found.unchanged, kept=found.kept, policy=report,
        cost=cost, desired_digest=wanted, observed_fingerprint=seen,
    )  # fmt: skip
