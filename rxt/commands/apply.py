"""``rxt apply ENV --config FILE``: reconcile one environment now, from its repository's branch
head (or ``--commit``), under its lease, as a worker of ``rxt serve`` would; ``rxt diff`` plans
the same against the live platforms and prints the plan without applying it.

Exit codes of apply: 0 applied or nothing to change, 1 error or a change failed, 3 denied by
policy. Of diff: 0 no changes, 1 error, 2 changes, 3 denied (as ``rxt plan``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from core.errors import ConfigError, RxtError
from planner.views import render
from reconciler.reconciling import Result, Target
from reconciler.wiring.config import load_config
from reconciler.wiring.engine import Engine
from rxt.commands.db import fail, open_configured_store
from rxt.commands.drift import split_environment
from rxt.commands.plan import EXIT_CHANGES, Output

EXIT_DENIED = 3  # as rxt plan

HELP = (
    "Plan ENV (tenant/name) at its branch head (or --commit) against the platforms and apply "
    "it under the environment's lease; --plan applies only if that saved plan id is still the "
    "one computed now (otherwise the plan is made again and the reason printed).\n\n"
    "Exit codes: 0 applied or unchanged, 1 error or a failed change, 3 denied by policy."
)


def use_color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _target(engine: Engine, environment: str, config: Path) -> Target:
    tenant, name = split_environment(environment)
    target = engine.targets.get(f"{tenant}/{name}")
    if target is None:
        raise ConfigError(
            f"environment {tenant}/{name} is not in {config}",
            hint="list it under a repository's environments",
        )
    return target


def _print(result: Result) -> None:
    typer.echo(f"{result.status}: plan {result.plan_id}")
    if result.replanned:
        typer.echo(f"planned again: {result.replanned}")
    typer.echo(f"applied {result.applied} change(s), {result.wrote} written")
    for line in result.failed:
        typer.echo(f"  failed: {line}")
    for line in result.held:
        typer.echo(f"  held for approval: {line}")
    if result.error:
        typer.echo(result.error)


def _exit(result: Result) -> int:
    if result.status == "denied":
        return EXIT_DENIED
    return 0 if result.status in {"succeeded", "unchanged", "planned"} else 1


@contextmanager
def _configured_engine(config: Path, *, holder: str) -> Iterator[Engine]:
    """The engine of ``config`` on the configured store, stopped and closed afterwards; an
    ``RxtError`` inside becomes the CLI's error message and exit code."""
    try:
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    engine: Engine | None = None
    try:
        engine = Engine.from_config(load_config(config), store, holder=holder)
        yield engine
    except RxtError as error:
        raise fail(error) from error
    finally:
        if engine is not None:
            engine.stop()
        store.close()


def apply_command(
    environment: Annotated[str, typer.Argument(metavar="ENV", help="tenant/name")],
    config: Annotated[Path, typer.Option(help="The engine configuration file (YAML).")],
    commit: Annotated[str, typer.Option(help="Apply this commit, not the branch head.")] = "",
    plan: Annotated[str, typer.Option(help="A saved plan id that must still match.")] = "",
) -> None:
    with _configured_engine(config, holder="rxt-apply") as engine:
        target = _target(engine, environment, config)
        if commit:
            engine.fetch_commit(target, commit)
            result = engine.reconciler.reconcile(target, commit, saved_plan=plan, trigger="manual")
        else:
            payload = {"plan_id": plan, "trigger": "manual"}
            result = engine.handle_reconcile(target, payload)
    _print(result)
    raise typer.Exit(_exit(result))


DIFF_HELP = (
    "Plan ENV (tenant/name) at its branch head (or --commit) against the live platforms, "
    "store the plan, and print it; nothing is applied and no lease is taken.\n\n"
    "Exit codes: 0 no changes, 1 error, 2 changes, 3 denied by policy."
)


def diff_command(
    environment: Annotated[str, typer.Argument(metavar="ENV", help="tenant/name")],
    config: Annotated[Path, typer.Option(help="The engine configuration file (YAML).")],
    commit: Annotated[str, typer.Option(help="Plan this commit, not the branch head.")] = "",
    output: Annotated[Output, typer.Option("--output", "-o", help="text, json or markdown.")] = (
        Output.TEXT
    ),
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain text output.")] = False,
) -> None:
    with _configured_engine(config, holder="rxt-diff") as engine:
        target = _target(engine, environment, config)
        if commit:
            engine.fetch_commit(target, commit)
        plan = engine.reconciler.preview(target, commit or engine.head_commit(target, ""))
    typer.echo(render(plan, output.value, color=use_color(no_color)), nl=False)
    code = EXIT_DENIED if plan.policy.denied else (EXIT_CHANGES if plan.has_changes else 0)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``rxt apply`` and ``rxt diff``."""
    app.command("apply", help=HELP)(apply_command)
    app.command("diff", help=DIFF_HELP)(diff_command)
