"""Why the plan computed now is not the one a person was shown: a saved plan gone stale
(``rxt apply --plan``), or a merged review whose plan differs from its preview and is held.

``Reconciler`` asks these while reconciling; ``reconciler.merging`` answers the ``MergeCheck``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from planner.plans import Plan
from reconciler import history
from reconciler.recording import Subject
from state.database import Database
from state.store import Store


@dataclass(frozen=True)
class Settled:
    """A merge check's answer for a merged review's commit: whether its plan is the previewed
    one, why not, and the review (``owner/name#42``). ``new`` is False when the commit was
    settled before and the stored verdict was read back."""

    matches: bool
    reason: str
    review: str
    held: bool = False
    new: bool = True


class MergeCheck(Protocol):
    """Settles the plan of a pushed commit against the preview of the review it merged; None
    when no previewed review is found for the commit (a plain push)."""

    def __call__(self, plan: Plan) -> Settled | None: ...


def merge_hold(store: Store, subject: Subject) -> str:
    """Why every change of ``subject.commit`` waits for an approval: its merge was planned
    again and held. Read from the store, so a heal or an API sync of the commit holds too."""
    verdict = store.previews.verdict(subject.tenant, subject.environment, subject.commit)
    if verdict is None or verdict.matches or not verdict.held:
        return ""
    review = f"{verdict.repository}#{verdict.number}"
    return f"the merge of {review} was planned again ({verdict.reason}); approve the plan"


def held_for_approval(plan: Plan, *, why: str) -> Plan:
    """``plan`` with every change waiting for a person's approval, saying why."""
    changes = tuple(
        replace(c, needs_approval=True, reason=f"{c.reason}; {why}" if c.reason else why)
        for c in plan.changes
    )
    return replace(plan, changes=changes)


def stale(database: Database, saved: str, plan: Plan) -> str:
    """'' when the saved plan is the one computed now; otherwise why it was planned again."""
    if saved.rpartition(":")[2] == plan.id.rpartition(":")[2]:
        return ""
    basis = history.plan_basis(database, saved)
    if basis is None:
        return f"the saved plan {saved} is unknown; planned again"
    commit, fingerprint = basis
    if commit != plan.commit:
        return f"the saved plan {saved} was made at {commit}, not {plan.commit}"
    if fingerprint != plan.observed_fingerprint:
        return f"the observed state changed since plan {saved} was made"
    return f"the desired state or policy changed since plan {saved} was made"
