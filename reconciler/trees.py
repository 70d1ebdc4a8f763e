"""Reading files from a Git tree at one commit, never leaving the repository (bar R7).

The Git source (``reconciler.mirrors``) hands out a ``RepoTree``; the reconciler reads an
environment's manifests through it and may write them to a scratch folder for the planner.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

import pygit2

from core.errors import Location, ManifestError

# Linux gives up after 40 links (ELOOP); a manifest repo needs far fewer, and a lower bound
# keeps a crafted chain from costing much.
MAX_LINK_HOPS = 16

# A percent sign followed by two hex digits: a URL-encoded byte. A path in a repository has
# no reason to carry one, and a layer that decodes it later could turn ``%2e%2e`` into ``..``.
_ENCODED = re.compile(r"%[0-9a-fA-F]{2}")
_LINK = int(pygit2.enums.FileMode.LINK)
_TREE = int(pygit2.enums.FileMode.TREE)

_HINT = "keep every file and link of an environment repo inside it, and outside .git"


def _refuse(path: str, message: str, *, hint: str = _HINT) -> ManifestError:
    return ManifestError(message, location=Location(path), hint=hint)


def check_name(name: str, *, path: str) -> None:
    """Refuse one path component that could leave the repository or reach Git's own files."""
    if name in ("", ".", ".."):
        raise _refuse(path, f"path component {name!r} is not allowed")
    if "/" in name or "\\" in name or "\x00" in name:
        raise _refuse(path, f"path component {name!r} holds a separator or a NUL byte")
    # Case-insensitive: on macOS and Windows checkouts ``.GIT`` is the same folder as ``.git``.
    if name.casefold() == ".git":
        raise _refuse(path, "paths inside .git are not part of the repository's content")
    if _ENCODED.search(name):
        raise _refuse(path, f"path component {name!r} is URL-encoded")


def split_path(path: str) -> list[str]:
    """The components of a path relative to the repository root, each checked."""
    if not path or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise _refuse(path or "<empty>", "the path must be relative to the repository root")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts:
        raise _refuse(path, "the path names the repository root, not a file")
    for part in parts:
        check_name(part, path=path)
    return parts


def _link_target(link_path: str, target: str) -> list[str]:
    """The components a link points to, resolved against the link's folder."""
    link = f"symbolic link {link_path!r}"
    if not target or target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        raise _refuse(link_path, f"{link} points to an absolute path {target!r}")
    if "\\" in target or "\x00" in target or _ENCODED.search(target):
        raise _refuse(link_path, f"{link} has a malformed or encoded target {target!r}")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith("../"):
        raise _refuse(link_path, f"{link} leaves the repository: target {target!r}")
    if joined == ".":
        return []
    try:
        return split_path(joined)
    except ManifestError as error:
        raise _refuse(link_path, f"{link} -> {target!r}: {error.message}") from None


class RepoTree:
    """The files of one commit, read from Git's object store without a checkout."""

    def __init__(self, repo: pygit2.Repository, commit: str) -> None:
        self._repo = repo
        self.commit = commit
        obj = repo.revparse_single(commit)
        self._root = obj.peel(pygit2.Tree)

    def read(self, path: str) -> bytes:
        """The content of the file at ``path``, following in-repository links.

        Raises:
            ManifestError: the path or a link on the way leaves the repository, loops, or
                names something that is not a file.
        """
        entry = self._resolve(path)
        if entry.filemode == _TREE:
            raise _refuse(path, "is a folder, not a file", hint="name a file")
        return bytes(self._repo[entry.id].read_raw())

    def exists(self, path: str) -> bool:
        """True when ``path`` names a file or folder (links followed); unsafe paths raise."""
        try:
            self._resolve(path)
        except FileNotFoundError:
            return False
        return True

    def list_dir(self, path: str) -> list[str]:
        """The names in the folder at ``path`` (links followed), sorted; [] when absent."""
        try:
            entry = self._resolve(path)
        except FileNotFoundError:
            return []
        if entry.filemode != _TREE:
            raise _refuse(path, "is a file, not a folder", hint="name a folder")
        tree = self._repo[entry.id]
        assert isinstance(tree, pygit2.Tree)
        names = [item.name or "" for item in tree]
        for name in names:
            check_name(name, path=f"{path}/{name}")
        return sorted(names)

    def _resolve(self, path: str) -> pygit2.Object:
        """The tree entry ``path`` names once every link on the way is followed.

        Every step is a lookup by name inside the commit's own tree, and no step ever carries
        ``..``, so no link or crafted entry can reach a file outside the repository.
        """
        pending = split_path(path)
        try:
            return self._walk(pending, asked=path)
        except ManifestError as error:
            if error.location.path == path:
                raise
            # Name what the caller asked for; the message names the link on the way.
            raise _refuse(path, error.message, hint=error.hint) from None

    def _walk(self, pending: list[str], *, asked: str) -> pygit2.Object:
        done: list[str] = []
        hops = 0
        node: pygit2.Object = self._root
        while pending:
            name = pending.pop(0)
            here = "/".join([*done, name])
            entry = self._child(node, name, here=here, asked=asked)
            if entry.filemode == _LINK:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise _refuse(
                        here, f"symbolic links loop or nest deeper than {MAX_LINK_HOPS} at {here!r}"
                    )
                target = self._repo[entry.id].read_raw().decode("utf-8", "replace")
                pending = _link_target(here, target) + pending
                done, node = [], self._root
                continue
            done.append(name)
            node = entry
        return node

    def _child(self, node: pygit2.Object, name: str, *, here: str, asked: str) -> pygit2.Object:
        if not isinstance(node, pygit2.Tree):
            raise _refuse(asked, f"{posixpath.dirname(here)!r} is a file, not a folder")
        if name not in node:
            raise FileNotFoundError(asked)
        entry = node[name]
        check_name(entry.name or "", path=here)
        return entry


def environment_files(tree: RepoTree, environment: str) -> dict[str, bytes]:
    """The files the planner loads for one environment, by path relative to the repo root.

    ``environments/<env>/environment.yaml``, every ``environments/<env>/apps/<app>/deploy.yaml``
    and every ``policies/*.rego``. Links inside the repository are followed; the key is always
    the path the loader expects, not the link's target.
    """
    check_name(environment, path=f"environments/{environment}")
    base = f"environments/{environment}"
    wanted = [f"{base}/environment.yaml"]
    wanted += [f"{base}/apps/{app}/deploy.yaml" for app in tree.list_dir(f"{base}/apps")]
    wanted += [f"policies/{name}" for name in tree.list_dir("policies") if name.endswith(".rego")]
    files: dict[str, bytes] = {}
    for path in wanted:
        if tree.exists(path):
            files[path] = tree.read(path)
    return files


def materialise(files: Mapping[str, bytes], root: Path) -> list[Path]:
    """Write ``files`` as plain files under ``root`` (an empty scratch folder); no links.

    Raises:
        ManifestError: a path is unsafe or would land outside ``root``.
    """
    base = root.resolve()
    written: list[Path] = []
    for path, content in sorted(files.items()):
        target = base.joinpath(*split_path(path))
        if not target.resolve().is_relative_to(base):
            raise _refuse(path, "would be written outside the scratch folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW and O_EXCL: never write through a link or over a file already there.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        written.append(target)
    return written


def materialise_environment(tree: RepoTree, environment: str, root: Path) -> Path:
    """Write one environment's files at a commit under ``root``; returns the environment's
    folder, ready for ``planner.loading.load_environment(folder, repo_root=root)``."""
    materialise(environment_files(tree, environment), root)
    return root / "environments" / environment
