"""``rxt drift ENV``: print an environment's latest drift report with its per-field diffs.

Exit codes: 0 no drift (or never checked, or checks disabled), 2 drifted, 1 an error (the
check itself failed, or the environment is unknown).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from core.errors import ConfigError, RxtError
from reconciler import history
from rxt.commands.db import fail, open_configured_store
from state.models import DriftStatus

EXIT_DRIFTED = 2

HELP = (
    "Print the latest drift report of ENV (tenant/name): its status (ok, drifted, error, "
    "never_run, disabled), when it was checked, and each drifted resource with the fields "
    "that differ from the last applied desired state.\n\n"
    "Exit codes: 0 no drift, 2 drifted, 1 the check failed or ENV is unknown."
)


class Output(StrEnum):
    TEXT = "text"
    JSON = "json"


def split_environment(text: str) -> tuple[str, str]:
    tenant, _, name = text.partition("/")
    if not tenant or not name or "/" in name:
        raise ConfigError(f"environment {text!r} is not tenant/name", hint="write it as acme/prod")
    return tenant, name


def _text(environment: str, report: history.DriftView | None) -> list[str]:
    if report is None:
        return [f"{environment}: never_run (no drift check has run yet)"]
    lines = [f"{environment}: {report.status.value} (checked {report.checked_at.isoformat()})"]
    if report.error:
        lines.append(f"  error: {report.error}")
    for item in report.diffs:
        lines.append(f"  ~ {item['ref']}  {item['drift']}")
        lines.extend(
            f"      {f['path']}: expected {f['expected']!r}, found {f['actual']!r}"
            for f in item.get("fields", [])
        )
    return lines


def _json(environment: str, report: history.DriftView | None) -> dict[str, Any]:
    if report is None:
        return {"environment": environment, "status": DriftStatus.NEVER_RUN.value}
    return {
        "environment": environment,
        "status": report.status.value,
        "checked_at": report.checked_at.isoformat(),
        "error": report.error,
        "resources": report.diffs,
    }


def drift_command(
    environment: Annotated[str, typer.Argument(metavar="ENV", help="tenant/name")],
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.TEXT,
) -> None:
    try:
        tenant, name = split_environment(environment)
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    try:
        env_id = history.environment_id(store.database, tenant, name)
        if env_id is None:
            raise fail(ConfigError(f"no environment {environment} in the state store"))
        report = history.latest_drift(store.database, env_id)
    finally:
        store.close()
    if output is Output.JSON:
        typer.echo(json.dumps(_json(environment, report), indent=2, default=str))
    else:
        typer.echo("\n".join(_text(environment, report)))
    status = report.status if report else DriftStatus.NEVER_RUN
    if status is DriftStatus.ERROR:
        raise typer.Exit(1)
    raise typer.Exit(EXIT_DRIFTED if status is DriftStatus.DRIFTED else 0)


def register(app: typer.Typer) -> None:
    """Add ``rxt drift``."""
    app.command("drift", help=HELP)(drift_command)
