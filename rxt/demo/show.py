"""Tables and panels the demo prints: a stored plan's placements and changes, what each platform
holds, the preview comment's summary, a drift report field by field. ``rxt.demo.scenes`` calls
them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from core.resources import ObservedResource
from planner.views.blocks import money, signed, summary_line

_COMMENT_LINES = 14  # the summary a reviewer reads first; the full plan is folded below it
# Terraform's marks and colours, by the action names of the plan's JSON (docs/plan-json.md).
_MARKS = {"create": ("+", "green"), "update": ("~", "yellow"), "replace": ("-/+", "magenta"),
          "delete": ("-", "red")}  # fmt: skip


def placements_table(plan: Mapping[str, Any]) -> Table:
    """Each app's placement and the rule and reason that decided it, from a stored plan's
    JSON document (``GET /api/v1/plans/{id}``, its ``body``)."""
    title = f"placement in {plan['tenant']}/{plan['environment']}"
    table = Table(box=box.SIMPLE_HEAD, title=title)
    for column in ("app", "runs on", "rule", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for placed in plan["placements"]:
        table.add_row(placed["app"], placed["target"], placed["rule"], placed["reason"])
    return table


def plan_text(plan: Mapping[str, Any]) -> Text:
    """A stored plan, one line per change in apply order, then policy, cost and the summary
    line; ``rxt plan`` prints every field of every change, the demo only what each does."""
    text = Text()
    commit = str(plan.get("commit") or "")[:12]
    text.append(f"plan {plan['plan_id']} for {plan['tenant']}/{plan['environment']} "
                f"at {commit}\n", style="bold")  # fmt: skip
    for change in plan["changes"]:
        mark, colour = _MARKS.get(change["action"], ("?", "red"))
        text.append(f"  {mark:>3} {change['address']}", style=colour)
        text.append(f"  {change['reason']}\n" if change.get("reason") else "\n", style="dim")
    policy = plan["policy"]
    blocking = sum(bool(r["blocking"]) for r in policy["results"])
    verdict = "DENIED" if policy["denied"] else "passed"
    text.append(f"policy {verdict}: {blocking} blocking, {len(policy['results'])} result(s)\n",
                style="red" if policy["denied"] else "green")  # fmt: skip
    cost = plan["cost"]
    text.append(f"monthly cost: {money(cost['monthly_before'], cost['currency'])} -> "
                f"{money(cost['monthly_after'], cost['currency'])} "
                f"({signed(cost['monthly_delta'], cost['currency'])})\n")  # fmt: skip
    counts = plan["summary"]
    line = summary_line(counts["add"], counts["change"], counts["replace"], counts["destroy"])
    text.append(line, style="bold")
    return text


def platform_table(observed: Sequence[ObservedResource], *, title: str) -> Table:
    """How many objects of each kind each platform holds for the environment."""
    counts = Counter((o.ref.platform.value, o.ref.kind) for o in observed)
    table = Table(box=box.SIMPLE_HEAD, title=title)
    for column in ("platform", "kind", "objects"):
        table.add_column(column)
    for (platform, kind), count in sorted(counts.items()):
        table.add_row(platform, kind, str(count))
    return table


def comment_summary(body: str) -> RenderableType:
    """The preview comment's summary (everything above the folded plan) as Markdown."""
    head = body.split("<details>", 1)[0]
    lines = [line for line in head.split("\n") if not line.startswith("<!--")]
    # GitHub keeps the summary's bold lines apart; a terminal Markdown renderer joins them.
    shown = "\n".join(f"\n{line}" if line.startswith("**") else line for line in lines)
    shown = "\n".join(shown.strip().split("\n")[: _COMMENT_LINES * 2])
    return Panel(Markdown(shown), title="comment on pull request #7", box=box.ROUNDED)


def drift_table(items: Sequence[Mapping[str, Any]]) -> Table:
    """A drift report: each drifted resource, field by field."""
    table = Table(box=box.SIMPLE_HEAD, title="drift report")
    for column in ("resource", "field", "in Git", "found"):
        table.add_column(column)
    for item in items:
        fields = item.get("fields") or [{"path": "-", "expected": "", "actual": item["drift"]}]
        for field in fields:
            table.add_row(
                str(item["ref"]), str(field["path"]), repr(field["expected"]), repr(field["actual"])
            )
    return table


def audit_panel(text: str, *, ok: bool) -> Panel:
    style = "green" if ok else "red"
    return Panel(text.strip(), title="rxt audit verify", border_style=style, box=box.ROUNDED)


def progress_bar(console: Console) -> Progress:
    """A progress display for counted work, such as the changes of an apply."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=console, transient=False,
    )  # fmt: skip


@contextmanager
def waiting(console: Console, label: str) -> Iterator[None]:
    """A pulsing bar while the demo waits on work whose length it cannot know."""
    with progress_bar(console) as progress:
        task = progress.add_task(label, total=None)
        yield
        progress.update(task, total=1, completed=1)


@contextmanager
def steps(console: Console) -> Iterator[Any]:
    """A progress display of named steps; ``step(text)`` is a block that ticks one off."""
    done = SpinnerColumn(finished_text="[green]✓[/]")
    progress = Progress(done, TextColumn("{task.description}"), console=console)

    @contextmanager
    def step(text: str) -> Iterator[None]:
        task = progress.add_task(text, total=1)
        yield
        progress.update(task, completed=1)

    with progress:
        yield step


def places_table(places: Sequence[tuple[str, str, str]]) -> Table:
    """What the demo started, where it listens, and how it is stopped."""
    table = Table(box=box.SIMPLE_HEAD, title="started for the demo")
    for column in ("part", "listens on", "runs as"):
        table.add_column(column, no_wrap=True)
    for row in places:
        table.add_row(*row)
    return table


def heading(console: Console, number: int, title: str) -> None:
    console.rule(f"[bold]Scene {number}: {title}")
