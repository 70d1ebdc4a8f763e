"""``rxt demo``: the whole product on local simulators (vcsim, the Kubernetes, NSX and GitHub
fakes, OpenBao, a Git host), scene by scene, each carried by the engine ``rxt serve`` runs
(its workers, webhooks and tenant API); see docs/demo.md.

Exit 0 when every scene did what it should; 1 with the failed scene named otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from core import logs
from core.errors import RxtError
from rxt.commands.validate import check, render_text
from rxt.demo.story import run_demo

EXAMPLE_REPO = "example-repo"
_PIPE_WIDTH = 120


def find_example_repo() -> Path | None:
    """The example repository beside the package in a source checkout, if there is one."""
    checkout = Path(__file__).resolve().parents[2]
    candidate = checkout / EXAMPLE_REPO
    return candidate if (candidate / "environments").is_dir() else None


def _example_or_exit() -> Path:
    repo = find_example_repo()
    if repo is None:
        typer.echo(
            f"the {EXAMPLE_REPO}/ folder was not found next to the rxt package\n"
            "  hint: run `rxt demo` from a source checkout (git clone, then `make demo`)",
            err=True,
        )
        raise typer.Exit(1)
    outcome = check(repo)
    if outcome.errors:
        typer.echo(render_text(outcome))
        raise typer.Exit(1)
    return repo


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    # Turned into an exception so that the demo's cleanup stops what it started.
    raise KeyboardInterrupt


def demo_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the demo's state (SQLite, audit key, Git) here to explore "
            "afterwards; default: a temporary folder, removed at the end."
        ),
    ] = None,
) -> None:
    """Run the whole engine against local simulators: a repository registered through the
    tenant API is applied, a pull request previewed from its webhook, the merge applied from
    its push, a hand-made change caught and healed by a drift check, the audit verified."""
    example = _example_or_exit()
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        typer.echo(
            f"{data_dir} is not empty; the demo starts from a fresh state\n"
            "  hint: name a new or empty folder with --data-dir",
            err=True,
        )
        raise typer.Exit(1)
    # The scenes say what happens; the engine's own log shows warnings only unless asked.
    logs.configure(level=os.environ.get("RXT_LOG_LEVEL", "WARNING").upper())
    console = Console()
    if not console.is_terminal:  # a log or a pipe has no width; keep rows readable
        console = Console(width=_PIPE_WIDTH)
    folder = data_dir or Path(tempfile.mkdtemp(prefix="rxt-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        run_demo(console, data_dir=folder, example=example, keep=data_dir is not None)
    except RxtError as error:
        console.print(f"[bold red]demo failed:[/] {error.render()}", highlight=False)
        raise typer.Exit(1) from error
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything the demo started was stopped[/]")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if data_dir is None:
            shutil.rmtree(folder, ignore_errors=True)


def register(app: typer.Typer) -> None:
    """Add ``rxt demo`` to the command line."""
    app.command("demo")(demo_command)
