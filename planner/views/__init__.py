"""Renderings of a plan: text for terminals, JSON for machines, Markdown for pull requests."""

from __future__ import annotations

from planner.plans import Plan
from planner.views.json import render_json
from planner.views.markdown import render_markdown
from planner.views.text import render_text

OUTPUTS = ("text", "json", "markdown")


def render(plan: Plan, output: str, *, color: bool = False) -> str:
    """The plan in one of ``OUTPUTS``; colour applies to text only."""
    if output == "json":
        return render_json(plan)
    if output == "markdown":
        return render_markdown(plan)
    if output == "text":
        return render_text(plan, color=color)
    raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
