"""Bar R7: no path, link or crafted tree entry reads anything outside the repository."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from core.errors import ManifestError
from reconciler.mirrors import RepositoryMirror
from reconciler.trees import RepoTree, environment_files, materialise, materialise_environment
from tests.reconciler.gitrepos import Entry, Link, commit, make_remote, nest

SENTINEL = b"OUTSIDE-THE-REPOSITORY"

ENV = b"apiVersion: deploy.rxt.io/v1\nkind: Environment\n"
WEB = b"kind: Application\nmetadata: {name: web}\n"
API = b"kind: Application\nmetadata: {name: api}\n"
REGO = b"package tenant\n"

# A healthy repository that uses links the way tenants do: a shared app, a shared policy.
LEGIT: dict[str, bytes | Link] = {
    "environments/prod/environment.yaml": ENV,
    "environments/prod/apps/web/deploy.yaml": Link("../../../staging/apps/web/deploy.yaml"),
    "environments/prod/apps/api": Link("../../staging/apps/api"),
    "environments/staging/environment.yaml": ENV,
    "environments/staging/apps/web/deploy.yaml": WEB,
    "environments/staging/apps/api/deploy.yaml": API,
    "common/shared.rego": REGO,
    "policies/shared.rego": Link("../common/shared.rego"),
    "policies/README.md": b"not a policy",
    "here": Link("."),
}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside the repository and its mirror, holding what must never be read."""
    path = tmp_path / "outside.txt"
    path.write_bytes(SENTINEL)
    return path


def _mirror_tree(tmp_path: Path, entries: dict[str, Entry]) -> RepoTree:
    remote = make_remote(tmp_path / "remote.git")
    head = commit(remote, entries)
    mirror = RepositoryMirror(str(tmp_path / "remote.git"), cache_dir=tmp_path / "cache")
    mirror.fetch()
    return mirror.tree_at(head)


def test_legitimate_in_repo_links_resolve_to_their_targets(tmp_path: Path) -> None:
    tree = _mirror_tree(tmp_path, nest(LEGIT))
    files = environment_files(tree, "prod")
    assert files == {
        "environments/prod/environment.yaml": ENV,
        "environments/prod/apps/api/deploy.yaml": API,
        "environments/prod/apps/web/deploy.yaml": WEB,
        "policies/shared.rego": REGO,
    }
    assert tree.read("here/here/common/shared.rego") == REGO


def test_materialised_files_are_plain_files_under_the_scratch_folder(tmp_path: Path) -> None:
    tree = _mirror_tree(tmp_path, nest(LEGIT))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    written = materialise(environment_files(tree, "prod"), scratch)
    assert len(written) == 4
    for path in scratch.rglob("*"):
        assert not path.is_symlink()
        assert path.resolve().is_relative_to(scratch.resolve())
    assert (scratch / "environments/prod/apps/api/deploy.yaml").read_bytes() == API


def _attack_links(outside: Path) -> dict[str, Link]:
    return {
        "up-one": Link("../outside.txt"),
        "up-many": Link("../../../../../../outside.txt"),
        "absolute": Link(str(outside)),
        "drive": Link("C:/outside.txt"),
        "up-dir": Link(".."),
        "deep/er/escape": Link("../../../outside.txt"),
        "sneaky": Link("environments/../../outside.txt"),
        "encoded": Link("%2e%2e/outside.txt"),
        "backslash": Link("..\\outside.txt"),
        "git-config": Link(".git/config"),
        "loop-a": Link("loop-b"),
        "loop-b": Link("loop-a"),
        "self": Link("self"),
        "empty": Link(""),
        "environments/prod/apps/evil": Link("../../../.."),
    }


# (what is attacked, the attack) -> each must raise ManifestError and read nothing outside.
READ_ATTACKS = [
    "../outside.txt",
    "environments/../../outside.txt",
    "/etc/passwd",
    "C:\\outside.txt",
    "..\\outside.txt",
    "%2e%2e/outside.txt",
    "%2E%2E%2Foutside.txt",
    "..%2foutside.txt",
    "%252e%252e/outside.txt",
    ".git/config",
    ".GIT/HEAD",
    "environments/.git/config",
    "",
    "nul\x00byte",
    "up-one",
    "up-many",
    "absolute",
    "drive",
    "up-dir/outside.txt",
    "deep/er/escape",
    "sneaky",
    "encoded",
    "backslash",
    "git-config",
    "loop-a",
    "self",
    "self/x",
    "empty",
    "environments/prod/apps/evil/outside.txt",
]


def _tried(attack: Callable[[], object], results: list[bytes]) -> bool:
    """True when ``attack`` was refused; anything it returned is kept to check later."""
    try:
        value = attack()
    except ManifestError:
        return True
    if isinstance(value, bytes):
        results.append(value)
    elif isinstance(value, dict):
        results.extend(v for v in value.values() if isinstance(v, bytes))
    return False


def test_r7_every_traversal_attack_is_refused_and_reads_nothing_outside(
    tmp_path: Path, outside: Path
) -> None:
    entries = nest({**LEGIT, **_attack_links(outside)})
    tree = _mirror_tree(tmp_path, entries)
    attacks: list[Callable[[], object]] = [partial(tree.read, path) for path in READ_ATTACKS]
    attacks.append(lambda: environment_files(tree, "prod"))  # walks into apps/evil
    attacks.append(lambda: environment_files(tree, ".."))
    attacks.append(lambda: environment_files(tree, "%2e%2e"))
    attacks.append(lambda: materialise({"../outside.txt": b"x"}, tmp_path))
    attacks.append(lambda: materialise({"/abs/file": b"x"}, tmp_path))

    read: list[bytes] = []
    refused = sum(_tried(attack, read) for attack in attacks)
    leaked = [content for content in read if SENTINEL in content]
    print(
        f"\nR7: {len(attacks)} attacks tried, {refused} refused, {len(leaked)} files outside "
        "the repository read"
    )
    assert refused == len(attacks)
    assert leaked == []
    assert outside.read_bytes() == SENTINEL  # untouched by materialise


# Entries a hostile remote could send in a raw tree object; libgit2 will not write them itself.
CRAFTED: list[tuple[str, dict[str, Entry]]] = [
    ("dot-dot app", {"environments": {"prod": {"apps": {"..": {"deploy.yaml": WEB}}}}}),
    ("dot-git app", {"environments": {"prod": {"apps": {".git": {"deploy.yaml": WEB}}}}}),
    ("upper .GIT", {"environments": {"prod": {"apps": {".GIT": {"deploy.yaml": WEB}}}}}),
    ("slash in a name", {"environments": {"prod": {"apps": {"a/../..": {"deploy.yaml": WEB}}}}}),
    ("dot-dot policy", {"policies": {"..": REGO}}),
    ("encoded policy", {"policies": {"%2e%2e.rego": REGO}}),
]


@pytest.mark.parametrize(("case", "entries"), CRAFTED, ids=[c for c, _ in CRAFTED])
def test_r7_crafted_tree_entries_are_refused_when_listed(
    tmp_path: Path, case: str, entries: dict[str, Entry]
) -> None:
    tree = _mirror_tree(tmp_path, entries)
    with pytest.raises(ManifestError) as caught:
        environment_files(tree, "prod")
    assert caught.value.location.path  # the error names the offending path


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("up-one", "leaves the repository"),
        ("absolute", "absolute path"),
        ("loop-a", "loop"),
        ("git-config", ".git"),
        ("encoded", "encoded"),
    ],
)
def test_a_refusal_names_the_path_and_says_what_is_wrong(
    tmp_path: Path, outside: Path, path: str, fragment: str
) -> None:
    tree = _mirror_tree(tmp_path, nest(_attack_links(outside)))
    with pytest.raises(ManifestError, match=fragment) as caught:
        tree.read(path)
    assert caught.value.location.path == path
    assert caught.value.hint


def test_a_missing_file_is_not_found_and_a_folder_is_not_a_file(tmp_path: Path) -> None:
    tree = _mirror_tree(tmp_path, nest(LEGIT))
    with pytest.raises(FileNotFoundError):
        tree.read("environments/prod/missing.yaml")
    with pytest.raises(ManifestError, match="folder"):
        tree.read("environments/prod")
    assert set(environment_files(tree, "absent")) == {"policies/shared.rego"}


def test_an_environment_read_from_git_loads_in_the_planner(tmp_path: Path) -> None:
    from planner.loading import load_environment

    example = Path(__file__).parents[2] / "example-repo"
    files = {
        str(path.relative_to(example)): path.read_bytes()
        for path in example.rglob("*")
        if path.is_file()
    }
    tree = _mirror_tree(tmp_path, nest(files))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    folder = materialise_environment(tree, "prod", scratch)
    loaded = load_environment(folder, repo_root=scratch)
    on_disk = load_environment(example / "environments" / "prod", repo_root=example)
    assert loaded.name == "prod"
    assert sorted(loaded.apps) == sorted(on_disk.apps)
    assert loaded.environment == on_disk.environment
