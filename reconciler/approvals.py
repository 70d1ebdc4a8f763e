"""Which held changes of a plan a person has approved through the tenant API.

``Reconciler`` asks ``released`` before every apply: changes that need approval (prunes named in
``sync.confirmPrune``, replacements, ownership conflicts) stay held until an approval covers them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.resources import Change
from planner.plans import Plan
from reconciler import history
from reconciler.recording import stored_plan_id
from state.database import Database


@dataclass(frozen=True)
class Release:
    """What approvals release in one plan: ``approved_by`` names who approved (empty when no
    one did), ``identities`` the changes covered (see ``change_identity``)."""

    approved_by: str = ""
    identities: frozenset[str] = frozenset()

    def covers(self, change: Change) -> bool:
        return change_identity(change) in self.identities


def change_identity(change: Change) -> str:
    """The change as a person approved it: the address and the action, plus the digest of the
    desired spec when there is one (so an approval never releases a different edit)."""
    desired = change.desired.digest if change.desired is not None else ""
    return f"{change.action.value} {change.ref} {desired}"


def released(database: Database, *, environment_id: int, plan: Plan) -> Release:
    """The approvals that release held changes of ``plan``.

    An approval of this very plan id releases every change in it.
    """
    approver = history.approved_by(database, stored_plan_id(plan.id))
    if not approver:
        return Release()
    return Release(approver, frozenset(change_identity(c) for c in plan.changes))
