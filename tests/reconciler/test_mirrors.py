"""Fetching real repositories into bare mirrors and reading files at a commit."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from core.errors import ConfigError, TransientError
from reconciler.mirrors import RepositoryMirror, SshKeyAuth, TokenAuth, _Callbacks, mirror_path
from tests.conftest import free_port
from tests.reconciler import githttp, sshd
from tests.reconciler.gitrepos import commit, make_remote, nest


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    return tmp_path / "remote.git"


def test_a_fetch_brings_new_commits_into_the_mirror(tmp_path: Path, remote_dir: Path) -> None:
    remote = make_remote(remote_dir)
    first = commit(remote, nest({"environments/prod/environment.yaml": b"v1"}))
    mirror = RepositoryMirror(f"file://{remote_dir}", cache_dir=tmp_path / "cache")

    assert mirror.fetch() == {"main": first}
    second = commit(remote, nest({"environments/prod/environment.yaml": b"v2"}))
    assert mirror.fetch() == {"main": second}

    assert mirror.tree_at(first).read("environments/prod/environment.yaml") == b"v1"
    assert mirror.tree_at(second).read("environments/prod/environment.yaml") == b"v2"


def test_a_plain_local_path_is_a_remote_too(tmp_path: Path, remote_dir: Path) -> None:
    remote = make_remote(remote_dir)
    head = commit(remote, {"README": b"hello"})
    mirror = RepositoryMirror(str(remote_dir), cache_dir=tmp_path / "cache")
    assert mirror.fetch()["main"] == head
    assert mirror.head("main") == head
    assert mirror.head("absent") is None


def test_a_branch_deleted_upstream_is_pruned_from_the_mirror(
    tmp_path: Path, remote_dir: Path
) -> None:
    remote = make_remote(remote_dir)
    commit(remote, {"a": b"1"})
    commit(remote, {"a": b"2"}, branch="feature")
    mirror = RepositoryMirror(f"file://{remote_dir}", cache_dir=tmp_path / "cache")
    assert set(mirror.fetch()) == {"main", "feature"}
    remote.references.delete("refs/heads/feature")
    assert set(mirror.fetch()) == {"main"}


def test_a_mirror_is_reopened_from_the_cache_without_fetching_again(
    tmp_path: Path, remote_dir: Path
) -> None:
    remote = make_remote(remote_dir)
    head = commit(remote, {"a": b"1"})
    url = f"file://{remote_dir}"
    RepositoryMirror(url, cache_dir=tmp_path / "cache").fetch()
    again = RepositoryMirror(url, cache_dir=tmp_path / "cache")
    assert again.path == mirror_path(tmp_path / "cache", url)
    assert again.tree_at(head).read("a") == b"1"


def test_an_unreachable_remote_is_a_transient_error(tmp_path: Path) -> None:
    mirror = RepositoryMirror(f"file://{tmp_path}/missing.git", cache_dir=tmp_path / "cache")
    with pytest.raises(TransientError, match="fetch failed"):
        mirror.fetch()


def test_a_commit_missing_from_the_mirror_names_the_repository(tmp_path: Path) -> None:
    mirror = RepositoryMirror("file:///nowhere.git", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="not in the mirror"):
        mirror.tree_at("0" * 40)


@pytest.mark.parametrize(
    ("credentials", "secret"),
    [
        (TokenAuth(token="ghs_token_value"), "ghs_token_value"),
        (SshKeyAuth(private_key="PRIVATE-KEY-TEXT", passphrase="pass-phrase"), "PRIVATE-KEY-TEXT"),
    ],
)
def test_credentials_never_show_in_their_repr(
    credentials: TokenAuth | SshKeyAuth, secret: str
) -> None:
    assert secret not in repr(credentials)


@pytest.mark.skipif(not Path(githttp.BACKEND).exists(), reason="needs git http-backend")
@pytest.mark.parametrize(
    ("token", "outcome"),
    [("ghs_right_token", "fetched"), ("ghs_wrong_token", "refused"), (None, "refused")],
)
def test_a_token_is_sent_over_https_and_a_refused_one_is_a_config_error(
    tmp_path: Path, token: str | None, outcome: str
) -> None:
    remote = make_remote(tmp_path / "repos" / "env.git")
    head = commit(remote, {"README": b"over http"})
    with githttp.serving(
        tmp_path / "repos", port=free_port(), user="x-access-token", token="ghs_right_token"
    ) as url:
        credentials = TokenAuth(token=token) if token else None
        mirror = RepositoryMirror(
            f"{url}/env.git", cache_dir=tmp_path / "cache", credentials=credentials
        )
        if outcome == "fetched":
            assert mirror.fetch() == {"main": head}
            assert mirror.tree_at(head).read("README") == b"over http"
        else:
            with pytest.raises(ConfigError, match="refused the configured credentials"):
                mirror.fetch()


CredentialType = pygit2.enums.CredentialType


@pytest.mark.parametrize(
    ("credentials", "allowed", "kind"),
    [
        (TokenAuth(token="t"), CredentialType.USERPASS_PLAINTEXT, pygit2.UserPass),
        (SshKeyAuth(private_key="k"), CredentialType.SSH_KEY, pygit2.KeypairFromMemory),
        (SshKeyAuth(private_key="k"), CredentialType.USERNAME, pygit2.Username),
        (
            SshKeyAuth(private_key="k"),
            CredentialType.USERNAME | CredentialType.SSH_KEY,
            pygit2.KeypairFromMemory,
        ),
    ],
)
def test_libgit2_is_given_the_credential_kind_it_asks_for(
    credentials: TokenAuth | SshKeyAuth, allowed: pygit2.enums.CredentialType, kind: type
) -> None:
    callbacks = _Callbacks(credentials)
    assert isinstance(callbacks.credentials("ssh://git@host/repo", "git", allowed), kind)
    with pytest.raises(pygit2.GitError, match="refused"):
        callbacks.credentials("ssh://git@host/repo", "git", allowed)  # asked twice: refused
    assert callbacks.refused


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[sshd.SshServer]:
    if not sshd.available():
        pytest.skip("needs OpenSSH's sshd (Debian: openssh-server)")
    with sshd.serving(tmp_path / "sshd", port=free_port()) as server:
        yield server


@pytest.fixture
def libgit2_home() -> Iterator[None]:
    """libgit2 reads known_hosts under its home folder, a process-wide setting: restore it."""
    before = pygit2.settings.homedir or os.path.expanduser("~")
    yield
    pygit2.settings.homedir = before


@pytest.mark.usefixtures("libgit2_home")
@pytest.mark.parametrize(
    ("key", "trusted_host", "outcome"),
    [
        ("deploy", True, "fetched"),
        ("other", True, "refused the configured credentials"),
        ("deploy", False, "host key or certificate is not trusted"),
    ],
)
def test_a_deploy_key_is_used_over_ssh_and_only_a_known_host_is_trusted(
    tmp_path: Path, ssh_server: sshd.SshServer, key: str, trusted_host: bool, outcome: str
) -> None:
    remote_dir = tmp_path / "remote.git"
    head = commit(make_remote(remote_dir), {"README": b"over ssh"})
    home = ssh_server.known_hosts_home if trusted_host else tmp_path / "empty-home"
    pygit2.settings.homedir = str(home)
    private_key = ssh_server.private_key if key == "deploy" else ssh_server.other_key
    mirror = RepositoryMirror(
        f"ssh://{getpass.getuser()}@127.0.0.1:{ssh_server.port}{remote_dir}",
        cache_dir=tmp_path / "cache",
        credentials=SshKeyAuth(private_key=private_key),
    )
    if outcome == "fetched":
        assert mirror.fetch() == {"main": head}
        assert mirror.tree_at(head).read("README") == b"over ssh"
        return
    with pytest.raises(ConfigError, match=outcome):
        mirror.fetch()
