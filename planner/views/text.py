"""The text rendering of a plan, read like ``terraform plan``; coloured only when asked.

Called by ``rxt plan`` (which decides colour from the terminal and ``NO_COLOR``) and ``rxt diff``.
"""

from __future__ import annotations

from planner.plans import Plan
from planner.policy import PolicyResult
from planner.views.blocks import Line, change_block, money, signed, summary_line
from planner.views.json import summary

_RESET = "\033[0m"
_STYLES = {
    "+": "\033[32m",
    "-": "\033[31m",
    "~": "\033[33m",
    "-/+": "\033[35m",
    "!": "\033[1;31m",
    "#": "\033[2m",
    "title": "\033[1m",
    "deny": "\033[1;31m",
    "warn": "\033[33m",
    "ok": "\033[32m",
}


class _Writer:
    """Collects lines, colouring them by mark when colour is on."""

    def __init__(self, *, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def add(self, text: str = "", style: str = "") -> None:
        if self.color and style in _STYLES and text:
            text = f"{_STYLES[style]}{text}{_RESET}"
        self.lines.append(text)


def _header(out: _Writer, plan: Plan) -> None:
    commit = f", commit {plan.commit[:12]}" if plan.commit else ""
    out.add(f"RXT Deploy plan for {plan.tenant}/{plan.environment}{commit}", "title")
    out.add(f"Plan id: {plan.id}")
    out.add()


def _placements(out: _Writer, plan: Plan) -> None:
    out.add("Placement:", "title")
    width = max((len(app) for app in plan.placements), default=0)
    for app, placed in sorted(plan.placements.items()):
        target = placed.target.value.ljust(10)
        out.add(f"  {app.ljust(width)}  {target}  {placed.rule}: {placed.reason}")
    out.add()


def _changes(out: _Writer, plan: Plan) -> None:
    if not plan.changes:
        out.add("No changes. The observed state matches the repository.", "ok")
        out.add()
        return
    out.add("RXT Deploy will perform the following actions, in this order:", "title")
    out.add()
    for change in plan.changes:
        for line in change_block(change):
            out.add("  " + line.text, _style(line))
        out.add()
    if plan.kept:
        out.add(f"Left in place (prune is off): {len(plan.kept)} object(s) no longer declared:")
        for item in plan.kept:
            out.add(f"  {item.ref}")
        out.add()


def _style(line: Line) -> str:
    return line.mark.strip() or ""


def _policy_line(result: PolicyResult) -> tuple[str, str]:
    word = "DENY" if result.severity == "deny" else "WARN"
    note = ""
    if result.override is not None:
        note = f" (overridden by {result.override.by}: {result.override.reason})"
    elif result.severity == "deny" and not result.blocking:
        note = " (advisory)"
    level = f"  [{result.enforcement.value}]" if result.severity == "deny" else ""
    text = f"  {word}  {result.rule}{level}  {result.message}{note}"
    return text, "deny" if result.blocking else "warn"


def _policy(out: _Writer, plan: Plan) -> None:
    report = plan.policy
    blocking = sum(result.blocking for result in report.results)
    verdict = "DENIED" if report.denied else "passed"
    out.add(
        f"Policy {verdict}: {blocking} blocking, {report.count('deny')} denial(s), "
        f"{report.count('warn')} warning(s) (bundle {report.bundle_digest[:19]}...)",
        "deny" if report.denied else "ok",
    )
    for result in report.results:
        text, style = _policy_line(result)
        out.add(text, style)
    out.add()


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan as text; ANSI colours only when ``color`` is true."""
    out = _Writer(color=color)
    _header(out, plan)
    _placements(out, plan)
    _changes(out, plan)
    _policy(out, plan)
    cost = plan.cost
    out.add(
        f"Monthly cost: {money(cost.before, cost.currency)} -> {money(cost.after, cost.currency)}"
        f" ({signed(cost.delta, cost.currency)})"
    )
    counts = summary(plan)
    if counts["conflicts"]:
        out.add(
            f"Ownership conflicts: {counts['conflicts']} (never adopted; a person decides)", "!"
        )
    if counts["needs_approval"]:
        out.add(f"Changes needing approval: {counts['needs_approval']}", "warn")
    out.add(
        summary_line(counts["add"], counts["change"], counts["replace"], counts["destroy"]), "title"
    )
    return "\n".join(out.lines) + "\n"
