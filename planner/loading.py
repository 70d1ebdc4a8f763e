"""Load an environment repository into checked models, or say everything that is wrong with it.

The entry point of every reader of tenant repositories: ``rxt validate``, the planner and the
reconciler. Errors of all files are collected and raised together as ``ManifestErrors``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import Location, ManifestError, ManifestErrors
from planner.diagnostics import did_you_mean, to_manifest_errors
from planner.manifests import Application, Environment
from planner.repofiles import Repository
from planner.sourcemap import SourceMap, read_yaml
from planner.validation import (
    Checked,
    check_application,
    check_environment,
    check_folder_name,
    check_raw_references,
    check_together,
)

ENVIRONMENT_FILE = "environment.yaml"
APP_FILE = "deploy.yaml"
_KINDS: dict[str, type[BaseModel]] = {"Application": Application, "Environment": Environment}


@dataclass(frozen=True)
class LoadedEnvironment:
    """One environment of a repository, every file of it parsed and checked."""

    name: str
    directory: Path
    environment: Environment
    apps: Mapping[str, Application]  # by metadata.name, sorted by name
    policy_files: Mapping[str, str]  # the repo's own policies/*.rego: repo-relative path -> text


def _sorted_errors(errors: list[ManifestError]) -> list[ManifestError]:
    flat = [
        e
        for error in errors
        for e in (error.errors if isinstance(error, ManifestErrors) else [error])
    ]
    return sorted(flat, key=lambda e: (e.location.path, e.location.line, e.location.column))


def _model_class(data: dict[str, Any], *, path: str, source: Any) -> type[BaseModel]:
    kind = data.get("kind")
    if isinstance(kind, str) and kind in _KINDS:
        return _KINDS[kind]
    if kind is None:
        raise ManifestError(
            "kind is missing",
            location=Location(path, 1, 1),
            hint="add 'kind: Application' (deploy.yaml) or 'kind: Environment' (environment.yaml)",
        )
    raise ManifestError(
        f"kind must be Application or Environment, not {kind!r}",
        location=source.at(("kind",)),
        hint=did_you_mean(str(kind), list(_KINDS)),
    )


class _Unchecked(ManifestErrors):
    """A document that parsed as YAML but failed the model or a rule of its own: the errors,
    with what is left to check it against the other files of its environment."""

    def __init__(
        self,
        errors: list[ManifestError],
        *,
        data: dict[str, Any],
        source: SourceMap,
        checked: Checked | None,
    ) -> None:
        super().__init__(errors)
        self.data = data
        self.source = source
        self.checked = checked


def _check(data: str | bytes, *, path: str) -> Checked:
    """Parse, validate and check one document on its own; raises ``ManifestErrors``."""
    try:
        mapping, source = read_yaml(data, path=path)
        model_class = _model_class(mapping, path=path, source=source)
    except ManifestError as error:
        raise ManifestErrors([error]) from None
    try:
        # strict: "3" is not a number of replicas, as the JSON Schema editors use says too.
        model = model_class.model_validate(mapping, strict=True)
    except ValidationError as error:
        found = to_manifest_errors(error, data=mapping, source=source, root=model_class)
        raise _Unchecked(_sorted_errors(found), data=mapping, checked=None, source=source) from None
    assert isinstance(model, Application | Environment)
    if isinstance(model, Application):
        problems = check_application(model, source)
    else:
        problems = check_environment(model, source)
    checked = Checked(model=model, source=source)
    if problems:
        raise _Unchecked(_sorted_errors(problems), data=mapping, checked=checked, source=source)
    return checked


def parse_manifest(data: str | bytes, *, path: str) -> Environment | Application:
    """One manifest from text, checked on its own, without touching the filesystem.

    Args:
        data: the file's content; at most 1 MiB.
        path: the name errors are reported under.

    Raises:
        ManifestErrors: every problem found in the document.
    """
    return _check(data, path=path).model


def find_repo_root(path: Path) -> Path:
    """The repository holding ``path``: the folder above ``environments/``, else ``path``'s own."""
    absolute = Path(os.path.abspath(path))
    for parent in (absolute, *absolute.parents):
        if parent.name == "environments":
            return parent.parent
        if (parent / "environments").is_dir():
            return parent
    return absolute if absolute.is_dir() else absolute.parent


def _repository(root: Path) -> Repository:
    try:
        return Repository.at(root)
    except ManifestError as error:
        raise ManifestErrors([error]) from None


def _read_checked(repo: Repository, path: Path) -> Checked:
    shown = repo.shown(path)
    try:
        data = repo.read(path)
    except ManifestError as error:
        raise ManifestErrors([error]) from None
    return _check(data, path=shown)


def _folder_errors(checked: Checked, shown: str) -> list[ManifestError]:
    """The folder-name rule, for files laid out as the repository convention says."""
    parts = PurePosixPath(shown).parts
    if (
        len(parts) == 5
        and parts[0] == "environments"
        and parts[2] == "apps"
        and parts[4] == APP_FILE
    ):
        return check_folder_name(checked, folder=parts[3])
    if len(parts) == 3 and parts[0] == "environments" and parts[2] == ENVIRONMENT_FILE:
        return check_folder_name(checked, folder=parts[1])
    return []


def load_file(path: Path, *, repo_root: Path | None = None) -> Environment | Application:
    """One ``environment.yaml`` or ``deploy.yaml``, checked on its own.

    Raises:
        ManifestErrors: every problem found in the file, or a path that leaves the repository.
    """
    repo = _repository(repo_root or find_repo_root(path))
    checked = _read_checked(repo, path)
    errors = _folder_errors(checked, repo.shown(path))
    if errors:
        raise ManifestErrors(errors)
    return checked.model


def _policy_files(repo: Repository, errors: list[ManifestError]) -> dict[str, str]:
    folder = repo.given / "policies"
    if not os.path.lexists(folder):
        return {}
    found: dict[str, str] = {}
    try:
        for path in repo.files(folder, suffix=".rego", errors=errors):
            shown = repo.shown(path)
            try:
                found[shown] = repo.read(path).decode("utf-8")
            except UnicodeDecodeError:
                errors.append(ManifestError("policy is not UTF-8 text", location=Location(shown)))
    except ManifestError as error:
        errors.append(error)
    return dict(sorted(found.items()))


def _list_apps(repo: Repository, env_dir: Path, errors: list[ManifestError]) -> list[Path]:
    apps_dir = env_dir / "apps"
    try:
        return repo.folders(apps_dir, errors=errors) if os.path.lexists(apps_dir) else []
    except ManifestError as error:
        errors.append(error)
        return []


def _load_app(
    repo: Repository, folder: Path, *, known: set[str], errors: list[ManifestError]
) -> Checked | None:
    """One application, checked as far as it goes: an app with errors of its own still has
    its names checked against the environment, so a single run reports everything."""
    try:
        checked = _read_checked(repo, folder / APP_FILE)
    except _Unchecked as failure:
        errors.extend(failure.errors)
        if failure.checked is None:
            errors.extend(check_raw_references(failure.data, failure.source, known=known))
            return None
        checked = failure.checked
    except ManifestError as error:
        errors.append(error)
        return None
    folder_errors = check_folder_name(checked, folder=folder.name)
    errors += folder_errors
    return None if folder_errors else checked


def _load_into(
    repo: Repository, env_dir: Path, errors: list[ManifestError]
) -> tuple[Checked | None, dict[str, Checked], bool]:
    """Parse every file of one environment, appending problems to ``errors``.

    Returns the environment (None when it did not parse), the applications that parsed, and
    whether every file of the environment was free of errors.
    """
    before = len(errors)
    env: Checked | None = None
    try:
        env = _read_checked(repo, env_dir / ENVIRONMENT_FILE)
        errors += check_folder_name(env, folder=env_dir.name)
    except _Unchecked as failure:
        errors.extend(failure.errors)
        env = failure.checked
    except ManifestError as error:
        errors.append(error)
    folders = _list_apps(repo, env_dir, errors)
    known = {folder.name for folder in folders}
    apps: dict[str, Checked] = {}
    for folder in folders:
        checked = _load_app(repo, folder, known=known, errors=errors)
        if checked is not None:
            apps[folder.name] = checked
    errors += check_together(env, apps, known=known)
    return env, apps, len(errors) == before


def _loaded(
    env_dir: Path, env: Checked, apps: dict[str, Checked], policies: dict[str, str]
) -> LoadedEnvironment:
    assert isinstance(env.model, Environment)
    models = {name: apps[name].model for name in sorted(apps)}
    return LoadedEnvironment(
        name=env.model.metadata.name,
        directory=Path(os.path.abspath(env_dir)),
        environment=env.model,
        apps={name: model for name, model in models.items() if isinstance(model, Application)},
        policy_files=policies,
    )


def load_environment(env_dir: Path, *, repo_root: Path | None = None) -> LoadedEnvironment:
    """One ``environments/<env>/`` folder: its environment.yaml and every apps/<app>/deploy.yaml.

    Raises:
        ManifestErrors: every problem of every file of the environment.
    """
    repo = _repository(repo_root or find_repo_root(env_dir))
    errors: list[ManifestError] = []
    policies = _policy_files(repo, errors)
    env, apps, _ = _load_into(repo, env_dir, errors)
    if errors or env is None:
        raise ManifestErrors(_sorted_errors(errors))
    return _loaded(env_dir, env, apps, policies)


def load_repository(root: Path) -> list[LoadedEnvironment]:
    """Every environment of a repository, sorted by name.

    Raises:
        ManifestErrors: every problem of every environment, all at once.
    """
    repo = _repository(root)
    errors: list[ManifestError] = []
    policies = _policy_files(repo, errors)
    environments_dir = repo.given / "environments"
    exists = os.path.lexists(environments_dir)
    try:
        folders = repo.folders(environments_dir, errors=errors) if exists else []
    except ManifestError as error:
        raise ManifestErrors([error]) from None
    if not folders and not errors:
        raise ManifestErrors(
            [
                ManifestError(
                    "no environments in this repository",
                    location=Location(repo.shown(environments_dir)),
                    hint="a repository holds environments/<env>/environment.yaml",
                )
            ]
        )
    loaded: list[LoadedEnvironment] = []
    for env_dir in folders:
        env, apps, clean = _load_into(repo, env_dir, errors)
        if env is not None and clean:
            loaded.append(_loaded(env_dir, env, apps, policies))
    if errors:
        raise ManifestErrors(_sorted_errors(errors))
    return loaded
