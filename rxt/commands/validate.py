"""``rxt validate PATH``: check a repository, an environment folder or one manifest file.

Exit codes: 0 when everything is valid, 1 when anything is not (every error is printed, not only
the first), 64 for a usage error. ``--output json`` prints one document described in docs/cli.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import ManifestError, ManifestErrors, RxtError
from planner.loading import (
    ENVIRONMENT_FILE,
    LoadedEnvironment,
    find_repo_root,
    load_environment,
    load_file,
    load_repository,
)
from planner.manifests import Application, Environment

EXIT_INVALID = 1


class Output(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class Outcome:
    """What was validated, what it held, and the errors found (empty when valid)."""

    kind: str  # repository | environment | file
    path: Path
    root: Path
    environments: list[LoadedEnvironment]
    document: Environment | Application | None
    errors: list[ManifestError]


def _kind_of(path: Path) -> str:
    if path.is_file():
        return "file"
    if (path / ENVIRONMENT_FILE).exists():
        return "environment"
    return "repository"


def check(path: Path) -> Outcome:
    """Validate ``path`` as a repository, environment folder or file, whichever it is.

    Raises:
        RxtError: a problem that is not in a manifest (unreadable folder and the like).
    """
    kind, root = _kind_of(path), find_repo_root(path)
    environments: list[LoadedEnvironment] = []
    document: Environment | Application | None = None
    errors: list[ManifestError] = []
    try:
        if kind == "file":
            document = load_file(path, repo_root=root)
        elif kind == "environment":
            environments = [load_environment(path, repo_root=root)]
        else:  # the repository, or a folder inside it such as environments/
            environments = load_repository(root)
    except ManifestErrors as failure:
        errors = failure.errors
    except ManifestError as failure:
        errors = [failure]
    return Outcome(kind, path, root, environments, document, errors)


def _relative(path: Path) -> str:
    """``path`` relative to the working folder when it is below it, else absolute."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else os.path.abspath(path)


def shown_path(outcome: Outcome, error: ManifestError) -> str:
    """An error's file as the user can open it from where they ran ``rxt``."""
    return _relative(outcome.root / error.location.path)


def _error_text(outcome: Outcome, error: ManifestError) -> str:
    location = error.location
    where = shown_path(outcome, error)
    if location.line > 0:
        where = f"{where}:{location.line}:{location.column}"
    text = f"{where}: {error.message}"
    return f"{text}\n  hint: {error.hint}" if error.hint else text


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _summary(outcome: Outcome) -> str:
    if outcome.document is not None:
        model = outcome.document
        return f"valid: {_relative(outcome.path)} ({model.kind} {model.metadata.name})"
    apps = sum(len(env.apps) for env in outcome.environments)
    names = ", ".join(env.name for env in outcome.environments)
    count = len(outcome.environments)
    return (
        f"valid: {outcome.kind} {_relative(outcome.path)}: {count} environment{_s(count)}"
        f" ({names}), {apps} application{_s(apps)}"
    )


def render_text(outcome: Outcome) -> str:
    """Errors as ``path:line:col: message`` with an indented hint, then a count; or a summary."""
    if not outcome.errors:
        return _summary(outcome)
    lines = [_error_text(outcome, error) for error in outcome.errors]
    files = len({error.location.path for error in outcome.errors})
    count = len(outcome.errors)
    lines.append(f"invalid: {count} error{_s(count)} in {files} file{_s(files)}")
    return "\n".join(lines)


def render_json(outcome: Outcome) -> str:
    """The JSON document of docs/cli.md: validity, target, errors and what was found."""
    document: dict[str, Any] = {
        "valid": not outcome.errors,
        "target": {"path": str(outcome.path), "kind": outcome.kind},
        "errors": [
            {
                "path": shown_path(outcome, error),
                "line": error.location.line,
                "column": error.location.column,
                "message": error.message,
                "hint": error.hint,
            }
            for error in outcome.errors
        ],
        "environments": [
            {"name": env.name, "tenant": env.environment.metadata.tenant, "apps": list(env.apps)}
            for env in outcome.environments
        ],
        "document": None,
    }
    if outcome.document is not None:
        document["document"] = {
            "kind": outcome.document.kind,
            "name": outcome.document.metadata.name,
        }
    return json.dumps(document, indent=2, ensure_ascii=False)


VALIDATE_HELP = (
    "Check manifests: a repository (the folder holding environments/), one environment "
    "folder, or one environment.yaml or deploy.yaml file.\n\n"
    "Every error is printed, each as path:line:column: message with a hint below it. "
    "Exit 0 when everything is valid, 1 when anything is not.\n\n"
    "A single deploy.yaml is checked on its own: rules that need the whole environment "
    "(dependsOn and allowFrom names, dependency cycles, sites for the placement) are checked "
    "only when a folder or repository is given."
)


def validate_command(
    path: Annotated[
        Path, typer.Argument(exists=True, help="A repository, environment folder or file.")
    ],
    *,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.TEXT,
) -> None:
    try:
        outcome = check(path)
    except RxtError as error:
        typer.echo(error.render(), err=True)
        raise typer.Exit(EXIT_INVALID) from error
    rendered = render_json(outcome) if output is Output.JSON else render_text(outcome)
    typer.echo(rendered)
    if outcome.errors:
        raise typer.Exit(EXIT_INVALID)


def register(app: typer.Typer) -> None:
    """Add ``rxt validate`` to the command line."""
    app.command("validate", help=VALIDATE_HELP)(validate_command)
