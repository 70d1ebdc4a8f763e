"""The loader: YAML refusals with positions, whole-repository error collection, path safety."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import ManifestError, ManifestErrors
from planner import sourcemap
from planner.diagnostics import aliased
from planner.loading import (
    LoadedEnvironment,
    load_environment,
    load_file,
    load_repository,
    parse_manifest,
)
from planner.manifests import Application, Environment
from planner.sourcemap import MAX_BYTES
from tests.planner.manifest_samples import (
    EXAMPLE_REPO,
    app_text,
    copy_example,
    environment_text,
    write_repo,
)

ALIAS_BOMB = "\n".join(
    [
        "apiVersion: deploy.rxt.io/v1",
        "kind: Application",
        "a: &a [x, x, x, x, x, x, x, x, x]",
        *(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]"
            for i in range(8)
        ),
    ]
)

# (what, document, message fragment, line, column)
REFUSED = [
    ("an anchor", "a: &base {x: 1}\n", "anchor &base is not allowed", 1, 4),
    ("an alias", "a: *nowhere\n", "alias *nowhere is not allowed", 1, 4),
    ("a duplicate key", "kind: Application\nkind: Environment\n", "duplicate key 'kind'", 2, 1),
    ("a nested duplicate key", "spec:\n  image: a\n  image: b\n", "duplicate key 'image'", 3, 3),
    ("a custom tag", "spec: !include other.yaml\n", "tag !include is not allowed", 1, 7),
    ("a python tag", "x: !!python/object:os.system {}\n", "is not allowed", 1, 4),
    ("a set tag", "x: !!set {a, b}\n", "tag tag:yaml.org,2002:set is not allowed", 1, 4),
    ("a binary tag", "x: !!binary aGVsbG8=\n", "is not allowed", 1, 4),
    ("a merge key", app_text("<<: {replicas: 2}"), "unknown field '<<' in spec", 7, 3),
    (
        "two documents",
        "kind: Application\n---\nkind: Application\n",
        "several YAML documents",
        2,
        1,
    ),
    ("a list document", "- a\n- b\n", "the document must be a mapping", 1, 1),
    ("a scalar document", "hello\n", "the document must be a mapping", 1, 1),
    ("an empty file", "", "file is empty", 1, 1),
    ("only comments", "# nothing here\n", "file is empty", 1, 1),
    ("broken syntax", "a: [1, 2\n", "not valid YAML", 2, 1),
    ("a tab indent", "a:\n\tb: 1\n", "not valid YAML", 2, 1),
    ("a complex key", "? [a, b]\n: c\n", "mapping keys must be plain strings", 1, 3),
    ("an integer key", "!!int 1: a\n", "mapping key '1' must be a string", 1, 1),
    ("a wrong int tag", "x: !!int abc\n", "'abc' is not a valid tag:yaml.org,2002:int", 1, 4),
    ("deep nesting", "a: " + "[" * 40 + "]" * 40 + "\n", "nesting deeper than 32 levels", 1, 36),
    ("no kind", "apiVersion: deploy.rxt.io/v1\n", "kind is missing", 1, 1),
    ("an unknown kind", "kind: Deployment\n", "kind must be Application or Environment", 1, 7),
    ("an alias bomb", ALIAS_BOMB, "anchor &a is not allowed", 3, 4),
]


@pytest.fixture(params=["C parser", "pure Python parser"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers ruamel.yaml offers: the C one when ruamel.yaml.clib is installed."""
    if request.param == "pure Python parser":
        monkeypatch.setattr(sourcemap, "_C_PARSER", None)
    elif sourcemap.parser_in_use() == "pure Python":
        pytest.skip("ruamel.yaml.clib is not installed")
    return str(request.param)


@pytest.mark.usefixtures("parser")
@pytest.mark.parametrize(
    ("what", "document", "message", "line", "column"), REFUSED, ids=[row[0] for row in REFUSED]
)
def test_refused_yaml_is_reported_at_its_position(
    what: str, document: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(ManifestErrors) as caught:
        parse_manifest(document, path="deploy.yaml")
    [error] = caught.value.errors
    assert message in error.message
    assert (error.location.line, error.location.column) == (line, column)
    assert error.hint


@pytest.mark.usefixtures("parser")
def test_yaml_1_2_keeps_yes_and_on_as_strings() -> None:
    text = app_text("env:\n  A: yes\n  B: on\n  C: 0o17\n  D: 0x1F\n  E: ~\n").replace(
        "  E: ~\n", ""
    )
    app = parse_manifest(text, path="deploy.yaml")
    assert isinstance(app, Application)
    assert dict(app.spec.env) == {"A": "yes", "B": "on", "C": "15", "D": "31"}


def test_an_unknown_field_suggests_the_closest_name() -> None:
    text = app_text("placement: {taget: vm}")
    with pytest.raises(ManifestErrors) as caught:
        parse_manifest(text, path="apps/shop/deploy.yaml")
    assert caught.value.render() == (
        "apps/shop/deploy.yaml:7:15: unknown field 'taget' in spec.placement\n"
        "  hint: did you mean 'target'?"
    )


def test_every_error_of_a_file_is_reported_in_line_order() -> None:
    text = app_text("replicas: -1\nports:\n  - {name: HTTP, port: 0}\nimagePullPolicy: Always")
    text = text.replace("name: shop", "name: Shop")
    with pytest.raises(ManifestErrors) as caught:
        parse_manifest(text, path="deploy.yaml")
    lines = [(e.location.line, e.location.column) for e in caught.value.errors]
    assert lines == [(4, 9), (7, 13), (9, 14), (9, 26), (10, 3)]


@pytest.mark.parametrize("data", [b"\xff\xfe\x00bad", "kind: \x07bell\n", "\ud800: x"])
@pytest.mark.usefixtures("parser")
def test_undecodable_or_unprintable_input_is_a_manifest_error(data: str | bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(data, path="deploy.yaml")


def test_an_alias_bomb_is_refused_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(ManifestErrors, match="1 error"):
        parse_manifest(ALIAS_BOMB, path="deploy.yaml")
    assert time.perf_counter() - start < 0.5


def test_a_file_over_one_mebibyte_is_refused_before_parsing() -> None:
    huge = app_text() + "# " + "x" * (2 * MAX_BYTES) + "\n"
    start = time.perf_counter()
    with pytest.raises(ManifestErrors) as caught:
        parse_manifest(huge, path="deploy.yaml")
    assert time.perf_counter() - start < 0.5
    assert "over the limit of 1048576 bytes (1 MiB)" in caught.value.errors[0].message


@pytest.mark.usefixtures("parser")
def test_the_example_repository_loads() -> None:
    loaded = load_repository(EXAMPLE_REPO)
    assert [env.name for env in loaded] == ["prod", "staging"]
    for env in loaded:
        assert isinstance(env, LoadedEnvironment)
        assert list(env.apps) == ["api", "db", "payments", "web", "worker"]
        assert env.environment.metadata.tenant == "acme"
        assert env.directory == EXAMPLE_REPO / "environments" / env.name


def test_every_error_of_every_environment_is_reported_at_once(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "prod": {
                "environment.yaml": environment_text("prod"),
                "apps/shop/deploy.yaml": app_text("replicas: many"),
                "apps/cart/deploy.yaml": app_text("dependsOn: [shop, nope]", name="cart"),
            },
            "staging": {
                "environment.yaml": environment_text("staging").replace("tenant", "tenat"),
                "apps/shop/deploy.yaml": app_text("ports: {}"),
            },
        },
    )
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    where = [(e.location.path, e.location.line) for e in caught.value.errors]
    assert where == [
        ("environments/prod/apps/cart/deploy.yaml", 7),
        ("environments/prod/apps/shop/deploy.yaml", 7),
        ("environments/staging/apps/shop/deploy.yaml", 7),
        ("environments/staging/environment.yaml", 3),
        ("environments/staging/environment.yaml", 5),
    ]


def test_a_broken_app_is_not_reported_as_unknown_by_its_dependents(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "prod": {
                "environment.yaml": environment_text(),
                "apps/db/deploy.yaml": "kind: Application\nspec: [\n",
                "apps/shop/deploy.yaml": app_text("dependsOn: [db]"),
            }
        },
    )
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    assert [e.location.path for e in caught.value.errors] == [
        "environments/prod/apps/db/deploy.yaml"
    ]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no environments in this repository"),
        ({"prod": {"apps/shop/deploy.yaml": app_text()}}, "file not found"),
        (
            {"prod": {"environment.yaml": environment_text(), "apps/shop/README.md": "hi"}},
            "file not found",
        ),
    ],
    ids=["no environments", "no environment.yaml", "no deploy.yaml"],
)
def test_missing_files_are_named(
    tmp_path: Path, layout: dict[str, dict[str, str]], message: str
) -> None:
    (tmp_path / "environments").mkdir()
    write_repo(tmp_path, layout)
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    assert [e.message for e in caught.value.errors] == [message]


def test_load_environment_and_load_file_read_one_part(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    env = load_environment(repo / "environments" / "staging")
    assert env.name == "staging"
    assert isinstance(load_file(repo / "environments/staging/environment.yaml"), Environment)
    app = load_file(repo / "environments/staging/apps/web/deploy.yaml")
    assert isinstance(app, Application)
    assert app.metadata.name == "web"


def test_policy_files_are_read_by_their_repository_path(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    (repo / "policies" / "network").mkdir(parents=True)
    (repo / "policies" / "limits.rego").write_text("package acme.limits\n")
    (repo / "policies" / "network" / "egress.rego").write_text("package acme.egress\n")
    (repo / "policies" / "notes.md").write_text("not policy\n")
    env = load_environment(repo / "environments" / "prod")
    assert dict(env.policy_files) == {
        "policies/limits.rego": "package acme.limits\n",
        "policies/network/egress.rego": "package acme.egress\n",
    }


# --- path safety (bar R7): nothing outside the repository is ever read -------------------------


def _link(link: Path, target: str | Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def _errors_of(root: Path) -> list[tuple[str, str]]:
    with pytest.raises(ManifestErrors) as caught:
        load_repository(root)
    return [(e.location.path, e.message) for e in caught.value.errors]


def test_a_deploy_file_linked_outside_the_repository_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text(app_text())
    repo = copy_example(tmp_path / "repo")
    target = repo / "environments/prod/apps/web/deploy.yaml"
    target.unlink()
    _link(target, secret)
    assert (
        "environments/prod/apps/web/deploy.yaml",
        "symlink points outside the repository",
    ) in _errors_of(repo)


def test_a_folder_linked_outside_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "apps" / "x").mkdir(parents=True)
    repo = copy_example(tmp_path / "repo")
    _link(repo / "environments" / "evil", outside)
    assert _errors_of(repo) == [("environments/evil", "symlink points outside the repository")]


def test_a_relative_link_climbing_out_with_dot_dot_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loot.yaml").write_text(app_text(name="api"))
    repo = copy_example(tmp_path / "repo")
    target = repo / "environments/prod/apps/api/deploy.yaml"
    target.unlink()
    _link(target, "../../../../../loot.yaml")
    assert _errors_of(repo) == [
        ("environments/prod/apps/api/deploy.yaml", "symlink points outside the repository")
    ]


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    target = repo / "environments/prod/apps/db/deploy.yaml"
    target.unlink()
    _link(target, "deploy.yaml")
    assert _errors_of(repo) == [("environments/prod/apps/db/deploy.yaml", "symlink loop")]


def test_a_link_into_dot_git_is_refused(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    (repo / ".git").mkdir()
    (repo / ".git" / "deploy.yaml").write_text(app_text(name="worker"))
    target = repo / "environments/prod/apps/worker/deploy.yaml"
    target.unlink()
    _link(target, repo / ".git" / "deploy.yaml")
    assert _errors_of(repo) == [
        ("environments/prod/apps/worker/deploy.yaml", "path reaches into .git/")
    ]


def test_a_file_linked_inside_the_repository_is_read(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    shared = repo / "shared" / "web.yaml"
    shared.parent.mkdir()
    (repo / "environments/staging/apps/web/deploy.yaml").rename(shared)
    _link(repo / "environments/staging/apps/web/deploy.yaml", "../../../../shared/web.yaml")
    loaded = {env.name: env for env in load_repository(repo)}
    assert loaded["staging"].apps["web"].metadata.name == "web"


def test_a_folder_linked_inside_the_repository_is_read(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    _link(repo / "environments" / "qa", "staging")
    # Read through the link: its environment.yaml names staging, which differs from 'qa'.
    assert _errors_of(repo) == [
        (
            "environments/qa/environment.yaml",
            "environment name 'staging' differs from its folder 'qa'",
        )
    ]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    target = repo / "environments/prod/apps/web/deploy.yaml"
    target.unlink()
    os.mkfifo(target)
    assert _errors_of(repo) == [("environments/prod/apps/web/deploy.yaml", "not a regular file")]


def test_a_big_file_on_disk_is_refused_by_its_size(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    target = repo / "environments/prod/apps/web/deploy.yaml"
    target.write_bytes(b"#" * (2 * MAX_BYTES))
    [(path, message)] = _errors_of(repo)
    assert path == "environments/prod/apps/web/deploy.yaml"
    assert message == f"file is {2 * MAX_BYTES} bytes, over the limit of {MAX_BYTES} bytes (1 MiB)"


def test_a_policy_link_leaving_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stolen.rego").write_text("package x\n")
    repo = copy_example(tmp_path / "repo")
    _link(repo / "policies" / "x.rego", tmp_path / "stolen.rego")
    assert _errors_of(repo) == [("policies/x.rego", "symlink points outside the repository")]


def test_load_file_refuses_a_path_that_climbs_out_of_the_given_root(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(app_text())
    repo = copy_example(tmp_path / "repo")
    with pytest.raises(ManifestErrors, match="1 error"):
        load_file(repo / "environments" / ".." / ".." / "other.yaml", repo_root=repo)


def test_r7_a_hostile_repository_reads_nothing_outside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    (outside / "apps" / "loot").mkdir(parents=True)
    (outside / "secret.yaml").write_text(app_text(name="web"))
    (outside / "stolen.rego").write_text("package stolen\n")
    repo = copy_example(tmp_path / "repo")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text("[core]\n")
    prod = repo / "environments" / "prod"
    for app, target in {
        "web": outside / "secret.yaml",
        "api": "../../../../../outside/secret.yaml",
        "db": "deploy.yaml",
        "worker": repo / ".git" / "config",
    }.items():
        (prod / "apps" / app / "deploy.yaml").unlink()
        _link(prod / "apps" / app / "deploy.yaml", target)
    _link(prod / "apps" / "%2e%2e", outside / "apps")
    _link(repo / "environments" / "escape", outside)
    _link(repo / "policies" / "stolen.rego", outside / "stolen.rego")
    opened: list[str] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.path.realpath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    errors = _errors_of(repo)
    assert {path for path, _ in errors} == {
        "environments/prod/apps/web/deploy.yaml",
        "environments/prod/apps/api/deploy.yaml",
        "environments/prod/apps/db/deploy.yaml",
        "environments/prod/apps/worker/deploy.yaml",
        "environments/prod/apps/%2e%2e",
        "environments/escape",
        "policies/stolen.rego",
    }
    real_repo = str(repo.resolve())
    assert opened
    assert all(path.startswith(real_repo + os.sep) for path in opened), opened
    assert not any(f"{os.sep}.git{os.sep}" in path for path in opened)


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("spec", "depends_on", 0), ("spec", "dependsOn", 0)),
        (("spec", "volumes", 1, "mount_path"), ("spec", "volumes", 1, "mountPath")),
        (("spec", "env", "depends_on", "secret_ref", "path"),
         ("spec", "env", "depends_on", "secretRef", "path")),
        (("spec", "vm", "memory_mib"), ("spec", "vm", "memoryMiB")),
        (("spec", "dependsOn", 0), ("spec", "dependsOn", 0)),
    ],
)  # fmt: skip
def test_python_field_names_in_error_locations_become_the_contract_names(
    loc: tuple[int | str, ...], expected: tuple[int | str, ...]
) -> None:
    assert aliased(Application, loc) == expected


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("environments", "expected a folder, found a file"),
        ("environments/prod/apps", "expected a folder, found a file"),
    ],
)
def test_a_file_where_a_folder_belongs_is_reported(tmp_path: Path, file: str, message: str) -> None:
    write_repo(tmp_path, {"prod": {"environment.yaml": environment_text()}})
    target = tmp_path / file
    if target.is_dir():
        shutil.rmtree(target)
    target.write_text("not a folder\n")
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    assert [(e.location.path, e.message) for e in caught.value.errors] == [(file, message)]


def test_a_folder_where_a_manifest_belongs_is_reported(tmp_path: Path) -> None:
    write_repo(tmp_path, {"prod": {"environment.yaml": environment_text()}})
    (tmp_path / "environments/prod/apps/shop/deploy.yaml").mkdir(parents=True)
    assert _errors_of(tmp_path) == [
        ("environments/prod/apps/shop/deploy.yaml", "not a regular file")
    ]


def test_a_missing_repository_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestErrors, match="1 error") as caught:
        load_repository(tmp_path / "nowhere")
    assert caught.value.errors[0].message == "repository folder not found"


def test_an_unreadable_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_repo(tmp_path, {"prod": {"environment.yaml": environment_text()}})
    apps = tmp_path / "environments/prod/apps"
    apps.mkdir()
    real_scandir = os.scandir

    def refusing_scandir(path: Any) -> Any:
        # The effect of chmod 0 for a user who is not root (tests may run as root).
        if Path(path) == apps.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    assert _errors_of(tmp_path) == [
        ("environments/prod/apps", "cannot list folder: Permission denied")
    ]


def test_names_in_an_app_with_errors_of_its_own_are_still_checked(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "prod": {
                "environment.yaml": environment_text(sites=("vsphere",)),
                "apps/db/deploy.yaml": app_text("placement: {stateful: true}", name="db"),
                "apps/shop/deploy.yaml": app_text("replicas: many\ndependsOn: [dbb, Bad_Name]"),
                "apps/cart/deploy.yaml": app_text(
                    "ports:\n  - {name: http, port: 80}\n  - {name: http, port: 81}", name="cart"
                ),
            }
        },
    )
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    assert [(e.location.path, e.location.line, e.message) for e in caught.value.errors] == [
        # cart's model is valid: its duplicate port and its placement are both reported.
        ("environments/prod/apps/cart/deploy.yaml", 5, "application 'cart' goes to kubernetes "
         "(rule default-kubernetes), but environment 'prod' has no sites.kubernetes"),
        ("environments/prod/apps/cart/deploy.yaml", 9, "port name 'http' is declared twice "
         "(first at line 8)"),
        # shop's model is not: its names are still read from the file.
        ("environments/prod/apps/shop/deploy.yaml", 7, "spec.replicas must be an integer, "
         "not 'many'"),
        ("environments/prod/apps/shop/deploy.yaml", 8, "dependsOn names 'dbb', which is not an "
         "application of this environment"),
        ("environments/prod/apps/shop/deploy.yaml", 8, "spec.dependsOn[1] must be a DNS label, "
         "not 'Bad_Name'"),
    ]  # fmt: skip
