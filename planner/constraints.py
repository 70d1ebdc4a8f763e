"""Tenant placement constraints: Rego ``forbid`` rules that may veto a decided target.

Called by ``planner.plans`` and ``rxt explain``. A constraint never changes a placement; when it
forbids the target the matrix chose, the plan carries a hard denial naming the constraint's rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.bundles import Bundle
from planner.placement import Placement
from planner.policy import Answers, Enforcement, PolicyResult, answers, failure, items, prepared

FORBID = "forbid"


@dataclass(frozen=True, slots=True)
class Forbidden:
    """A constraint's verdict: ``app`` may not run on ``target``, by ``rule``."""

    app: str
    target: str
    rule: str
    message: str
    pack: str


def _parse(item: Any, pack: str) -> Forbidden:
    if not isinstance(item, dict) or not all(
        isinstance(item.get(k), str) for k in ("app", "target")
    ):
        raise TypeError("a forbid result must be an object with app, target, rule and msg")
    message = str(item.get("msg", item.get("message", "")))
    return Forbidden(item["app"], item["target"], str(item.get("rule") or pack), message, pack)


def forbidden(found: Answers) -> tuple[list[Forbidden], list[PolicyResult]]:
    """Every forbid result of every pack's answers; a malformed result denies."""
    verdicts: list[Forbidden] = []
    errors: list[PolicyResult] = []
    for pack in sorted(found):
        try:
            verdicts.extend(_parse(item, pack) for item in items(found[pack], FORBID))
        except TypeError as error:
            errors.append(failure(pack, f"{pack}.{FORBID}: {error}"))
    return verdicts, errors


def constraints_of(
    bundle: Bundle, document: Mapping[str, Any]
) -> tuple[list[Forbidden], list[PolicyResult]]:
    """The forbid verdicts of a bundle on ``document`` alone (``rxt explain`` uses it)."""
    engine, problem = prepared(bundle, document)
    if engine is None:
        return [], [failure("bundle", problem)]
    found, errors = answers(engine, bundle)
    verdicts, malformed = forbidden(found)
    return verdicts, [*errors, *malformed]


def vetoes(placements: Mapping[str, Placement], verdicts: list[Forbidden]) -> list[PolicyResult]:
    """Hard denials for each constraint that forbids the target an app was placed on."""
    found = []
    for item in verdicts:
        placed = placements.get(item.app)
        if placed is None or placed.target.value != item.target:
            continue
        found.append(
            PolicyResult(
                pack=item.pack,
                rule=item.rule,
                message=(
                    f"placement constraint forbids {item.target} for '{item.app}' "
                    f"(placed there by rule {placed.rule}): {item.message}"
                ),
                severity="deny",
                enforcement=Enforcement.HARD_MANDATORY,
                app=item.app,
            )
        )
    return found
