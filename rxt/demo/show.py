"""Tables and panels the demo prints: placements, what each platform holds, the preview
comment's summary, a drift report field by field. ``rxt.demo.scenes`` calls them."""

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

from core.resources import ObservedResource
from planner.plans import Plan

_COMMENT_LINES = 14  # the summary a reviewer reads first; the full plan is folded below it


def placements_table(plan: Plan) -> Table:
    """Each app's placement and the rule and reason that decided it."""
    table = Table(box=box.SIMPLE_HEAD, title=f"placement in {plan.tenant}/{plan.environment}")
    for column in ("app", "runs on", "rule", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for app, placed in sorted(plan.placements.items()):
        table.add_row(app, placed.target.value, placed.rule, placed.reason)
    return table


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
