"""The sticky comment of a preview: the planner's Markdown view, with the placement changes the
review makes, the plan id it stands for, and (after a merge) why the plan was made again.

``reconciler.previews`` calls ``plan_comment`` and ``failed_comment``. Bodies stay within the
planner's ``LIMIT`` (60,000 characters), well under GitHub's 65,535.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import RxtError
from planner.loading import LoadedEnvironment
from planner.placement import place_environment
from planner.plans import Plan
from planner.views.markdown import LIMIT, render_markdown

MAX_MOVES = 20  # placement changes listed; the rest are counted
_EXTRAS_ROOM = 3_000  # what the lines added here may take, kept out of the view's budget
_ERROR_ROOM = 4_000
_COST_LINE = "**Monthly cost:**"


@dataclass(frozen=True)
class PlacementMove:
    """An app whose placement the review changes; '' for before (new) or after (removed)."""

    app: str
    before: str
    after: str
    rule: str = ""


def placement_moves(plan: Plan, base: LoadedEnvironment | None) -> list[PlacementMove]:
    """Apps the review adds, removes or moves between VM and Kubernetes, against the base."""
    if base is None:
        return []
    try:
        before = {app: p.target.value for app, p in place_environment(base).items()}
    except RxtError:
        return []  # the base itself does not place; nothing to compare with
    after = {app: p.target.value for app, p in plan.placements.items()}
    moves = []
    for app in sorted(before.keys() | after.keys()):
        was, now = before.get(app, ""), after.get(app, "")
        if was != now:
            rule = plan.placements[app].rule if app in plan.placements else ""
            moves.append(PlacementMove(app, was, now, rule))
    return moves


def _move_text(move: PlacementMove) -> str:
    if not move.before:
        return f"`{move.app}` new on {move.after}"
    if not move.after:
        return f"`{move.app}` removed from {move.before}"
    return f"`{move.app}` {move.before} → {move.after} (`{move.rule}`)"


def moves_line(moves: list[PlacementMove]) -> str:
    """The summary line on placement changes; says 'none' plainly."""
    if not moves:
        return "**Placement changes:** none"
    shown = ", ".join(_move_text(m) for m in moves[:MAX_MOVES])
    more = f" and {len(moves) - MAX_MOVES} more" if len(moves) > MAX_MOVES else ""
    return f"**Placement changes:** {len(moves)}: {shown}{more}"


def _footer(plan: Plan, *, replanned: bool) -> str:
    if replanned:
        return (
            f"\n<sub>Plan `{plan.id}` of the merge commit `{plan.commit[:12]}`, planned again "
            "on merge; the engine applies it through the same policy gate.</sub>\n"
        )
    return (
        f"\n<sub>Plan `{plan.id}` of commit `{plan.commit[:12]}`, previewed without a lock. "
        "On merge it is applied only if the engine computes the same plan then; otherwise it "
        "is planned again and this comment says why.</sub>\n"
    )


def plan_comment(
    marker: str, plan: Plan, *, moves: list[PlacementMove] | None, replanned: str = ""
) -> str:
    """The comment for one environment's plan, at most ``LIMIT`` characters; ``moves`` None
    when placements were not compared with a base (the line is then left out)."""
    extras = [] if moves is None else [moves_line(moves)]
    notice = ""
    if replanned:
        notice = (
            f"> **Planned again on merge:** {replanned}. This is the plan the engine applies, "
            "not the one previewed before.\n"
        )
    footer = _footer(plan, replanned=bool(replanned))
    room = LIMIT - _EXTRAS_ROOM - len(notice) - len(footer)
    view = render_markdown(plan, limit=max(room, 1_000))
    lines = view.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith(_COST_LINE)), 2)
    lines[at:at] = [line[: _EXTRAS_ROOM // 2] for line in extras]
    if notice:
        lines[2:2] = [notice]  # under the marker and the heading
    body = "\n".join(lines) + footer
    if not body.startswith(marker):
        body = f"{marker}\n{body}"
    return body[:LIMIT]


def failed_comment(
    marker: str, tenant: str, environment: str, commit: str, *, why: str, error: RxtError
) -> str:
    """The comment for an environment that could not be planned: what failed and the hint,
    never a traceback."""
    text = error.render()
    if len(text) > _ERROR_ROOM:
        text = text[:_ERROR_ROOM] + "\n… (cut; run `rxt validate` for every error)"
    return (
        f"{marker}\n### RXT Deploy plan: `{tenant}/{environment}` @ `{commit[:12]}`\n\n"
        f":x: **Not planned:** {why}.\n\n```\n{text}\n```\n"
    )
