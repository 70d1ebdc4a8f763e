"""The JSON rendering of a plan, with a ``format_version``; its shape is docs/plan-json.md.

Called by ``rxt plan --output json``, the HTTP API and PR previews.
"""

from __future__ import annotations

import json
from typing import Any

from core.resources import Action, Change, ResourceRef
from planner.diffing import is_conflict
from planner.plans import Plan
from planner.policy import PolicyResult

FORMAT_VERSION = "1.0"


def _ref(ref: ResourceRef) -> dict[str, str]:
    return {"platform": ref.platform.value, "kind": ref.kind, "name": ref.name, "scope": ref.scope}


def _change(index: int, change: Change) -> dict[str, Any]:
    desired = change.desired
    return {
        "order": index,
        "address": str(change.ref),
        "action": change.action.value,
        "resource": _ref(change.ref),
        "owner": str(change.owner),
        "app": change.owner.app,
        "reason": change.reason,
        "needs_approval": change.needs_approval,
        "conflict": is_conflict(change),
        "diffs": [{"path": d.path, "before": d.before, "after": d.after} for d in change.diffs],
        "before": dict(change.observed.spec) if change.observed else None,
        "after": dict(desired.spec) if desired else None,
        "depends_on": [str(ref) for ref in desired.depends_on] if desired else [],
        "secrets": [str(ref) for ref in desired.secrets] if desired else [],
    }


def _result(result: PolicyResult) -> dict[str, Any]:
    override = result.override
    return {
        "pack": result.pack,
        "rule": result.rule,
        "severity": result.severity,
        "enforcement": result.enforcement.value,
        "app": result.app,
        "message": result.message,
        "blocking": result.blocking,
        "override": None if override is None else {"by": override.by, "reason": override.reason},
    }


def summary(plan: Plan) -> dict[str, int]:
    """The counts every rendering leads with."""
    return {
        "add": plan.count(Action.CREATE),
        "change": plan.count(Action.UPDATE),
        "replace": plan.count(Action.REPLACE),
        "destroy": plan.count(Action.DELETE),
        "unchanged": plan.unchanged,
        "conflicts": len(plan.conflicts),
        "needs_approval": sum(c.needs_approval for c in plan.changes),
        "kept": len(plan.kept),
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready object."""
    cost = plan.cost
    return {
        "format_version": FORMAT_VERSION,
        "plan_id": plan.id,
        "tenant": plan.tenant,
        "environment": plan.environment,
        "commit": plan.commit,
        "has_changes": plan.has_changes,
        "summary": summary(plan),
        "placements": [
            {"app": app, "target": p.target.value, "rule": p.rule, "reason": p.reason}
            for app, p in sorted(plan.placements.items())
        ],
        "changes": [_change(index, change) for index, change in enumerate(plan.changes, start=1)],
        "kept": [_ref(item.ref) for item in plan.kept],
        "policy": {
            "bundle_digest": plan.policy.bundle_digest,
            "denied": plan.policy.denied,
            "results": [_result(result) for result in plan.policy.results],
        },
        "cost": {
            "currency": cost.currency,
            "monthly_before": cost.before,
            "monthly_after": cost.after,
            "monthly_delta": cost.delta,
            "by_platform": {
                name: {"monthly_before": old, "monthly_after": new}
                for name, (old, new) in cost.by_platform.items()
            },
        },
        "fingerprints": {
            "desired": plan.desired_digest,
            "observed": plan.observed_fingerprint,
            "policy": plan.policy.bundle_digest,
        },
    }


def render_json(plan: Plan) -> str:
    """The plan as indented JSON text, keys in a stable order."""
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"
