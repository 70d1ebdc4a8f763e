"""Tenant placement constraints: Rego ``forbid`` rules that may veto a decided target.

Called by ``planner.plans`` and ``rxt explain``. A constraint never changes a placement; when it
forbids the target the matrix chose, the plan carries a hard denial naming the constraint's rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planner.bundles import Bundle, error_text
from planner.placement import Placement
from planner.policy import Enforcement, PolicyResult, failure, prepared, query

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


def forbidden(
    bundle: Bundle, document: Mapping[str, Any], *, engine: Any = None
) -> tuple[list[Forbidden], list[PolicyResult]]:
    """Every forbid result of every package, and failures to evaluate (which deny).

    ``engine`` may be one already ``prepared`` with this bundle and document.
    """
    problem = ""
    if engine is None:
        engine, problem = prepared(bundle, document)
    if engine is None:
        return [], [failure("placement", problem)]
    found: list[Forbidden] = []
    errors: list[PolicyResult] = []
    for pack in sorted(bundle.packs):
        path = bundle.packs[pack]
        try:
            found.extend(_parse(item, pack) for item in query(engine, path, FORBID))
        except Exception as error:  # any failure of a gate must deny, whatever it is
            errors.append(failure(pack, f"{path}.{FORBID} failed: {error_text(error)}"))
    return found, errors


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
