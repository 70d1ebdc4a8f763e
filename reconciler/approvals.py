"""Which held changes of a plan a person has approved through the tenant API.

``Reconciler`` asks ``released`` before every apply: changes that need approval (prunes named in
``sync.confirmPrune``, replacements, ownership conflicts) stay held until an approval covers them.
An approval covers the changes its plan held, by identity, not by plan id: a run that applies
the other changes first makes a new plan id, and the held change in it stays approved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.hashing import digest
from core.resources import Change
from planner.plans import Plan
from reconciler import history
from state.database import Database, utc_now

# An approval is a person's word about the world as the plan showed it, usually for one change
# window. A day covers a window that opens later the same day and a retry the morning after,
# and bounds how long a yes can wait unused; a deletion carries no spec digest, so only age and
# a later apply of the same address (see ``_unspent``) stop an old yes from deleting anew.
APPROVAL_MAX_AGE = dt.timedelta(hours=24)


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
    return _identity(change.action.value, str(change.ref), desired)


def stored_identity(change: Mapping[str, Any]) -> str | None:
    """``change_identity`` of one change of a stored plan body (``plan_document``), or ``None``
    when the entry lacks the fields (a body of another shape)."""
    action, address, after = change.get("action"), change.get("address"), change.get("after")
    if not isinstance(action, str) or not isinstance(address, str):
        return None
    return _identity(action, address, digest(after) if after is not None else "")


def held_identities(body: Mapping[str, Any]) -> frozenset[str]:
    """The identities of the changes a stored plan body holds for approval."""
    changes = body.get("changes")
    if not isinstance(changes, list):
        return frozenset()
    found = (stored_identity(c) for c in changes if isinstance(c, dict) and c.get("needs_approval"))
    return frozenset(ident for ident in found if ident is not None)


def released(
    database: Database,
    *,
    environment_id: int,
    plan: Plan,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = APPROVAL_MAX_AGE,
) -> Release:
    """The approvals that release held changes of ``plan``.

    A held change is released when an approval of a plan of the same environment, given within
    ``max_age`` of ``now``, covers a change of the same identity, and its address was not
    applied since that approval (an approval is spent once its change was made).
    """
    wanted = {change_identity(c): str(c.ref) for c in plan.changes if c.needs_approval}
    if not wanted:
        return Release()
    since = (now or utc_now()) - max_age
    approvals = history.approvals_since(database, environment_id=environment_id, since=since)
    newest = _newest_cover(approvals, wanted=wanted.keys())
    if not newest:
        return Release()
    applied = history.applied_since(
        database, environment_id=environment_id, since=since, addresses=set(wanted.values())
    )
    covered = {
        ident: approval
        for ident, approval in newest.items()
        if _unspent(approval, applied_at=applied.get(wanted[ident]))
    }
    approvers = sorted({approval.approved_by for approval in covered.values()})
    return Release(", ".join(approvers), frozenset(covered))


def _newest_cover(
    approvals: Iterable[history.ApprovalView], *, wanted: Iterable[str]
) -> dict[str, history.ApprovalView]:
    """For each wanted identity, the newest approval whose plan held it."""
    wanted = set(wanted)
    newest: dict[str, history.ApprovalView] = {}
    for approval in sorted(approvals, key=lambda view: view.approved_at):
        for ident in held_identities(approval.body) & wanted:
            newest[ident] = approval
    return newest


def _unspent(approval: history.ApprovalView, *, applied_at: dt.datetime | None) -> bool:
    # An apply of the address at or after the approval used it up (or made the world it judged
    # differ), so the same change later needs a new one; a tie counts as spent, failing closed.
    return applied_at is None or applied_at < approval.approved_at


def _identity(action: str, address: str, desired_digest: str) -> str:
    return f"{action} {address} {desired_digest}"
