"""The Markdown rendering of a plan for pull-request comments: summary table first, details folded.

Called by PR previews and ``rxt plan --output markdown``. Never longer than ``LIMIT`` characters:
the change details are cut with a note when the plan is too big for one comment.
"""

from __future__ import annotations

from core.resources import Action, Change
from planner.diffing import is_conflict
from planner.plans import Plan
from planner.policy import PolicyResult
from planner.views.blocks import change_block, money, signed, summary_line
from planner.views.json import summary

LIMIT = 60_000
# Rows of the placement and policy tables; together they stay well inside the limit.
MAX_ROWS = 100
_COLUMNS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _per_platform(plan: Plan) -> list[str]:
    rows = [
        "| platform | add | change | replace | destroy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    platforms = sorted({change.ref.platform.value for change in plan.changes})
    for platform in platforms:
        mine = [c for c in plan.changes if c.ref.platform.value == platform and not is_conflict(c)]
        counts = [sum(c.action is action for c in mine) for action in _COLUMNS]
        rows.append(f"| {platform} | " + " | ".join(map(str, counts)) + " |")
    totals = summary(plan)
    total = [totals["add"], totals["change"], totals["replace"], totals["destroy"]]
    rows.append("| **total** | " + " | ".join(f"**{n}**" for n in total) + " |")
    return rows


def _destructive(plan: Plan) -> str:
    risky = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    if not risky:
        return "**Destructive changes:** none"
    items = ", ".join(f"`{c.ref}` ({_verb(c)})" for c in risky[:10])
    more = f" and {len(risky) - 10} more" if len(risky) > 10 else ""
    return f"**Destructive changes:** {len(risky)}: {items}{more}"


def _verb(change: Change) -> str:
    verb = "replace" if change.action is Action.REPLACE else "destroy"
    return f"{verb}, needs approval" if change.needs_approval else verb


def _policy_summary(plan: Plan) -> str:
    report = plan.policy
    if report.denied:
        blocking = sum(r.blocking for r in report.results)
        head = f"**Policy:** :x: denied by {blocking} rule result(s)"
    else:
        head = "**Policy:** :white_check_mark: passed"
    return f"{head}; {report.count('warn')} warning(s)"


def _header(plan: Plan) -> list[str]:
    commit = f" @ `{plan.commit[:12]}`" if plan.commit else ""
    cost = plan.cost
    counts = summary(plan)
    lines = [
        f"<!-- rxt:plan {plan.tenant}/{plan.environment} -->",
        f"### RXT Deploy plan: `{plan.tenant}/{plan.environment}`{commit}",
        "",
        summary_line(counts["add"], counts["change"], counts["replace"], counts["destroy"]),
        "",
        *_per_platform(plan),
        "",
        _destructive(plan),
        _policy_summary(plan),
        f"**Monthly cost:** {money(cost.before, cost.currency)} → "
        f"{money(cost.after, cost.currency)} ({signed(cost.delta, cost.currency)})",
    ]
    if counts["conflicts"]:
        lines.append(f"**Ownership conflicts:** {counts['conflicts']} (never adopted)")
    lines += ["", "| app | placement | rule | reason |", "| --- | --- | --- | --- |"]
    placed_apps = sorted(plan.placements.items())
    for app, placed in placed_apps[:MAX_ROWS]:
        lines.append(
            f"| {app} | {placed.target.value} | `{placed.rule}` | {_cell(placed.reason)} |"
        )
    if len(placed_apps) > MAX_ROWS:
        lines.append(f"\n> {len(placed_apps) - MAX_ROWS} more app(s) in the JSON plan.")
    return lines


def _result_row(result: PolicyResult) -> str:
    status = (
        "blocking" if result.blocking else ("overridden" if result.override else result.severity)
    )
    return (
        f"| {result.severity} | `{result.rule}` | {result.enforcement.value} | {status} "
        f"| {_cell(result.message)} |"
    )


def _policy_details(plan: Plan) -> list[str]:
    results = plan.policy.results
    if not results:
        return []
    rows = ["| result | rule | enforcement | status | message |", "| --- | --- | --- | --- | --- |"]
    rows += [_result_row(result) for result in results[:MAX_ROWS]]
    if len(results) > MAX_ROWS:
        rows.append(f"\n> {len(results) - MAX_ROWS} more result(s) in the JSON plan.")
    return [
        "",
        f"<details><summary>Policy results ({len(results)})</summary>",
        "",
        *rows,
        "",
        "</details>",
    ]


def _change_text(plan: Plan, budget: int) -> tuple[str, int]:
    """As many change blocks as fit in ``budget`` characters, and how many were left out."""
    parts: list[str] = []
    used = 0
    for index, change in enumerate(plan.changes):
        block = "\n".join(line.text for line in change_block(change)) + "\n\n"
        if used + len(block) > budget:
            return "".join(parts), len(plan.changes) - index
        parts.append(block)
        used += len(block)
    return "".join(parts), 0


def render_markdown(plan: Plan, *, limit: int = LIMIT) -> str:
    """The plan as a PR comment of at most ``limit`` characters."""
    head = "\n".join(_header(plan) + _policy_details(plan)) + "\n"
    if not plan.changes:
        return head[:limit]
    opening = (
        f"\n<details><summary>Changes ({len(plan.changes)}, in apply order)</summary>\n\n```diff\n"
    )
    closing = "```\n\n</details>\n"
    note_room = 200  # the truncation note below stays well under this
    budget = limit - len(head) - len(opening) - len(closing) - note_room
    text, left_out = _change_text(plan, max(budget, 0))
    note = ""
    if left_out:
        note = (
            f"\n> Truncated: {left_out} more change(s) do not fit in one comment. "
            "Run `rxt plan --output json` for the full plan.\n"
        )
    return (head + opening + text + closing + note)[:limit]
