"""``rxt plan``, ``rxt explain`` and ``rxt policy test``: the planner from the command line.

Exit codes of ``rxt plan``: 0 no changes, 1 error, 2 changes, 3 denied by policy (Terraform's
detailed exit codes plus 3). ``rxt policy test`` exits 1 when a Rego test fails.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from core.errors import ConfigError, Location, ManifestError, RxtError
from core.resources import ObservedResource
from planner import policy
from planner.bundles import build_bundle, builtin_sources, read_directory, run_tests
from planner.costs import PriceSheet
from planner.loading import LoadedEnvironment, find_repo_root, load_environment
from planner.placement import explain, place_environment
from planner.plans import Plan, plan_environment, policy_input
from planner.policy import PolicyOverride
from planner.rendering import render_placed
from planner.snapshots import read_snapshot
from planner.views import render

EXIT_CHANGES = 2
EXIT_DENIED = 3

policy_app = typer.Typer(help="Built-in and tenant Rego policies.", no_args_is_help=True)


class Output(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def _fail(error: RxtError) -> typer.Exit:
    typer.echo(f"error: {error.render()}", err=True)
    return typer.Exit(1)


def _load(env_dir: Path) -> LoadedEnvironment:
    return load_environment(env_dir, repo_root=find_repo_root(env_dir))


def _snapshot(path: Path) -> list[ObservedResource]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(
            f"cannot read the snapshot: {error}",
            location=Location(str(path)),
            hint='a snapshot is JSON: {"resources": [...]} (docs/plan-json.md)',
        ) from error
    return read_snapshot(document, source=str(path))


def _prices(path: Path) -> PriceSheet:
    try:
        return PriceSheet.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as error:
        raise ConfigError(
            f"cannot read the price sheet {path}: {error}",
            hint='e.g. {"currency": "USD", "vsphere": {"vcpu": 28, "memoryGiB": 3.5, '
            '"storageGiB": 0.08}}',
        ) from error


def _use_color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _overrides(rules: list[str], by: str, reason: str) -> list[PolicyOverride]:
    if rules and (not by or not reason):
        raise RxtError(
            "an override needs --override-by and --override-reason",
            hint="say who approves the soft-mandatory denial and why",
        )
    return [PolicyOverride(rule=rule, by=by, reason=reason) for rule in rules]


def _exit_code(plan: Plan) -> int:
    if plan.policy.denied:
        return EXIT_DENIED
    return EXIT_CHANGES if plan.has_changes else 0


PLAN_HELP = (
    "Plan ENV_DIR against a recorded observed state and print it.\n\n"
    "Exit codes: 0 no changes, 1 error, 2 changes, 3 denied by policy. "
    'A snapshot of {"resources": []} is the empty world (docs/plan-json.md). '
    "Live observation through the drivers is not part of this command."
)


def plan_command(
    env_dir: Annotated[Path, typer.Argument(help="The environment folder (environment.yaml).")],
    *,
    observed: Annotated[
        Path, typer.Option("--observed", help="A snapshot of the observed state (JSON).")
    ],
    output: Annotated[Output, typer.Option("--output", "-o", help="text, json or markdown.")] = (
        Output.TEXT
    ),
    commit: Annotated[str, typer.Option(help="The commit the manifests come from.")] = "",
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain text output.")] = False,
    override: Annotated[
        list[str] | None,
        typer.Option(help="A soft-mandatory rule id to let pass (repeatable)."),
    ] = None,
    override_by: Annotated[str, typer.Option(help="Who approves the overrides.")] = "",
    override_reason: Annotated[str, typer.Option(help="Why the overrides are approved.")] = "",
    prices: Annotated[
        Path | None, typer.Option(help="A price sheet (JSON) for the monthly cost estimate.")
    ] = None,
) -> None:
    try:
        view = _load(env_dir)
        overrides = _overrides(override or [], override_by, override_reason)
        sheet = _prices(prices) if prices is not None else None
        observed_now = _snapshot(observed)
        plan = plan_environment(
            view, observed_now, commit=commit, overrides=overrides, prices=sheet
        )
    except RxtError as error:
        raise _fail(error) from error
    typer.echo(render(plan, output.value, color=_use_color(no_color)), nl=False)
    raise typer.Exit(_exit_code(plan))


def explain_command(
    env_dir: Annotated[Path, typer.Argument(help="The environment folder.")],
    app_name: Annotated[str, typer.Argument(metavar="APP", help="The application's name.")],
) -> None:
    """Print how APP was placed: every rule of the matrix, the constraints, what it renders."""
    try:
        view = _load(env_dir)
        if app_name not in view.apps:
            known = ", ".join(sorted(view.apps)) or "none"
            raise RxtError(f"no app '{app_name}' in {env_dir}", hint=f"apps here: {known}")
        placements = place_environment(view)
        bundle = build_bundle(view.environment.spec.policy.packs, view.policy_files)
        verdicts, errors = policy.constraints_of(bundle, policy_input(view, placements))
        resources = render_placed(view, placements)
    except RxtError as error:
        raise _fail(error) from error
    for line in explain(placements[app_name]):
        typer.echo(line)
    mine = [v for v in verdicts if v.app == app_name]
    typer.echo("constraints:" if mine or errors else "constraints: none forbid a target")
    for verdict in mine:
        vetoed = placements[app_name].target.value == verdict.target
        effect = "VETOES this placement" if vetoed else "does not apply"
        typer.echo(f"  {verdict.rule} forbids {verdict.target}: {effect}: {verdict.message}")
    for failed in errors:
        typer.echo(f"  {failed.rule}: {failed.message}")
    typer.echo("renders:")
    for item in resources:
        if item.owner.app == app_name:
            typer.echo(f"  {item.ref}")


@policy_app.command("test")
def policy_test_command(
    directory: Annotated[
        Path | None, typer.Argument(help="A tenant policies folder to test as well.")
    ] = None,
) -> None:
    """Run the Rego unit tests (test_ rules) of the built-in packs and of DIRECTORY."""
    sources = builtin_sources()
    if directory is not None:
        sources.update({f"tenant/{k}": v for k, v in read_directory(directory).items()})
    outcomes = run_tests(sources)
    for outcome in outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        detail = f": {outcome.error}" if outcome.error else ""
        typer.echo(f"{mark}  {outcome.file}  {outcome.rule}{detail}")
    failed = sum(not outcome.passed for outcome in outcomes)
    typer.echo(f"{len(outcomes) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed or not outcomes else 0)


def register(app: typer.Typer) -> None:
    """Add ``plan``, ``explain`` and the ``policy`` group."""
    app.command("plan", help=PLAN_HELP)(plan_command)
    app.command("explain")(explain_command)
    app.add_typer(policy_app, name="policy")
