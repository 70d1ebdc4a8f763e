"""Git sources: one bare mirror per repository in a cache folder, fetched with its credentials.

The poller and the reconcile workers call ``RepositoryMirror.fetch`` and then read files at a
commit through ``tree_at``; nothing is ever checked out.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pygit2

from core.errors import ConfigError, TransientError
from core.logs import get_logger, register_secret
from reconciler.trees import RepoTree

log = get_logger()

# libgit2 waits forever by default; a hung Git host must not hold a poll or a reconcile.
CONNECT_TIMEOUT_MS = 10_000
IO_TIMEOUT_MS = 60_000

# Every branch, force-updated, so the mirror matches the remote after each fetch; with prune,
# branches deleted upstream disappear here too.
BRANCH_REFSPEC = "+refs/heads/*:refs/heads/*"
_Credential = pygit2.UserPass | pygit2.KeypairFromMemory | pygit2.Username


@dataclass(frozen=True)
class TokenAuth:
    """HTTPS with a token: GitHub App tokens use ``x-access-token``, GitLab uses ``oauth2``."""

    token: str = field(repr=False)
    username: str = "x-access-token"


@dataclass(frozen=True)
class SshKeyAuth:
    """SSH with a deploy key held in memory; the host key must be in a known_hosts file."""

    private_key: str = field(repr=False)
    public_key: str = ""
    passphrase: str = field(default="", repr=False)
    username: str = "git"


Credentials = TokenAuth | SshKeyAuth


class _Callbacks(pygit2.RemoteCallbacks):
    """Hands libgit2 the repository's credentials once; a second ask means they were refused."""

    def __init__(self, credentials: Credentials | None) -> None:
        super().__init__()
        self._credentials = credentials
        self.refused = False
        self.untrusted_host = False
        self._asked = 0

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> _Credential:
        self._asked += 1
        if self._credentials is None or self._asked > 1:
            self.refused = True
            raise pygit2.GitError(f"credentials for {url} were refused or are not configured")
        return _credential(self._credentials, username_from_url, allowed_types)

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # Only what libgit2 itself verified (CA chain for HTTPS, known_hosts for SSH).
        self.untrusted_host = not valid
        return valid


def _credential(
    creds: Credentials, username_from_url: str | None, allowed: pygit2.enums.CredentialType
) -> _Credential:
    if isinstance(creds, TokenAuth):
        return pygit2.UserPass(creds.username, creds.token)
    user = username_from_url or creds.username
    if allowed & pygit2.enums.CredentialType.USERNAME and not (
        allowed & pygit2.enums.CredentialType.SSH_KEY
    ):
        return pygit2.Username(user)
    # No public key: libssh2 derives it from the private one.
    return pygit2.KeypairFromMemory(
        user, creds.public_key or None, creds.private_key, creds.passphrase or None
    )


def mirror_path(cache_dir: Path, url: str) -> Path:
    """Where the mirror of ``url`` lives: named by a digest, so any URL is a safe file name."""
    return cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.git"


class RepositoryMirror:
    """A bare mirror of one remote repository.

    Args:
        url: the remote, as configured for the repository (``https://``, ``ssh://``,
            ``file://`` or a local path).
        cache_dir: the folder that holds every mirror; created when missing.
        credentials: a token or an SSH key, or None for a public or local remote.
        extra_refspecs: more refs to mirror, such as ``+refs/pull/*/head:refs/pull/*/head``.
    """

    _locks: ClassVar[dict[Path, threading.Lock]] = {}
    _locks_guard = threading.Lock()

    def __init__(
        self,
        url: str,
        *,
        cache_dir: Path,
        credentials: Credentials | None = None,
        extra_refspecs: Sequence[str] = (),
    ) -> None:
        self.url = url
        self.path = mirror_path(cache_dir, url)
        self._credentials = credentials
        self._refspecs = [BRANCH_REFSPEC, *extra_refspecs]
        for secret in _secrets_of(credentials):
            register_secret(secret)
        cache_dir.mkdir(parents=True, exist_ok=True)
        _bound_network_waits()
        self._repo = self._open_or_create()

    def fetch(self) -> dict[str, str]:
        """Fetch and prune; returns every branch and its commit after the fetch.

        Raises:
            ConfigError: the remote refused the configured credentials.
            TransientError: the remote could not be reached or the fetch failed.
        """
        callbacks = _Callbacks(self._credentials)
        with self._locked():
            try:
                self._repo.remotes["origin"].fetch(
                    self._refspecs, callbacks=callbacks, prune=pygit2.enums.FetchPrune.PRUNE
                )
            except (pygit2.GitError, OSError) as error:
                raise self._fetch_error(error, callbacks=callbacks) from error
        heads = self.branches()
        log.info("repository.fetched", url=self.url, branches=len(heads))
        return heads

    def branches(self) -> dict[str, str]:
        """Every branch in the mirror and the commit it points to."""
        prefix = "refs/heads/"
        return {
            name.removeprefix(prefix): str(self._repo.references[name].target)
            for name in self._repo.references
            if name.startswith(prefix)
        }

    def head(self, branch: str) -> str | None:
        """The commit ``branch`` points to in the mirror, or None when there is no such branch."""
        return self.branches().get(branch)

    def tree_at(self, commit: str) -> RepoTree:
        """The files of ``commit``, read from the mirror's object store.

        Raises:
            ConfigError: the mirror holds no such commit (fetch first, or the id is wrong).
        """
        try:
            return RepoTree(self._repo, commit)
        except (KeyError, ValueError, pygit2.GitError) as error:
            raise ConfigError(
                f"repository {self.url}: commit {commit!r} is not in the mirror",
                hint="fetch the repository first, or check the commit id",
            ) from error

    def message(self, commit: str) -> str:
        """The message of ``commit``.

        Raises:
            ConfigError: the mirror holds no such commit.
        """
        return str(self._commit(commit).message)

    def parents(self, commit: str) -> list[str]:
        """The parents of ``commit``, first parent first (two or more for a merge commit).

        Raises:
            ConfigError: the mirror holds no such commit (fetch first, or the id is wrong).
        """
        return [str(oid) for oid in self._commit(commit).parent_ids]

    def _commit(self, commit: str) -> pygit2.Commit:
        try:
            found = self._repo.get(commit)
        except (ValueError, pygit2.GitError):
            found = None
        if not isinstance(found, pygit2.Commit):
            raise ConfigError(
                f"repository {self.url}: commit {commit!r} is not in the mirror",
                hint="fetch the repository first, or check the commit id",
            )
        return found

    def _open_or_create(self) -> pygit2.Repository:
        with self._locked():
            if (self.path / "HEAD").exists():
                return pygit2.Repository(str(self.path))
            repo = pygit2.init_repository(str(self.path), bare=True)
            repo.remotes.create("origin", self.url)
            return repo

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One fetch per mirror at a time, across threads and across engine processes."""
        with self._locks_guard:
            lock = self._locks.setdefault(self.path, threading.Lock())
        with lock, open(f"{self.path}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _fetch_error(self, error: Exception, *, callbacks: _Callbacks) -> Exception:
        if callbacks.untrusted_host:
            return ConfigError(
                f"repository {self.url}: the server's host key or certificate is not trusted",
                hint="add the SSH host key to the engine user's ~/.ssh/known_hosts, "
                "or fix the HTTPS certificate chain",
            )
        if callbacks.refused:
            return ConfigError(
                f"repository {self.url}: the remote refused the configured credentials",
                hint="check the token or deploy key registered for this repository",
            )
        return TransientError(
            f"repository {self.url}: fetch failed: {error}",
            hint="the fetch is retried on the next poll; check the URL if it persists",
        )


def _secrets_of(credentials: Credentials | None) -> list[str]:
    if isinstance(credentials, TokenAuth):
        return [credentials.token]
    if isinstance(credentials, SshKeyAuth):
        return [s for s in (credentials.private_key, credentials.passphrase) if s]
    return []


def _bound_network_waits() -> None:
    """Set libgit2's process-wide connect and read timeouts, unless someone set them already."""
    if not pygit2.settings.server_connect_timeout:
        pygit2.settings.server_connect_timeout = CONNECT_TIMEOUT_MS
    if not pygit2.settings.server_timeout:
        pygit2.settings.server_timeout = IO_TIMEOUT_MS
