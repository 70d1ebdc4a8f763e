"""Builds real Git repositories for the reconciler's tests, including trees Git itself refuses.

Trees are written as raw objects so that a test can plant entries a hostile remote could send
(``..``, ``.git``, names with a slash) that libgit2's tree builder would reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2


@dataclass(frozen=True)
class Link:
    """A symbolic link entry (mode 120000) whose blob holds ``target``."""

    target: str


Entry = bytes | Link | Mapping[str, "Entry"]
_SIGNATURE = pygit2.Signature("Test", "test@example.com", 1_700_000_000, 0)


def nest(files: Mapping[str, bytes | Link]) -> dict[str, Entry]:
    """Turn ``{"a/b.txt": b"..."}`` into nested folders ``{"a": {"b.txt": b"..."}}``."""
    root: dict[str, Entry] = {}
    for path, value in files.items():
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            child = node.setdefault(folder, {})
            assert isinstance(child, dict)
            node = child
        node[name] = value
    return root


def write_tree(repo: pygit2.Repository, entries: Mapping[str, Entry]) -> pygit2.Oid:
    """Write ``entries`` as raw tree objects, in Git's sort order, without name checks."""
    rows: list[tuple[bytes, bytes, pygit2.Oid]] = []
    for name, value in entries.items():
        if isinstance(value, bytes):
            rows.append((b"100644", name.encode(), repo.create_blob(value)))
        elif isinstance(value, Link):
            rows.append((b"120000", name.encode(), repo.create_blob(value.target.encode())))
        else:
            rows.append((b"40000", name.encode(), write_tree(repo, value)))
    # Git sorts a folder as if its name ended in "/".
    rows.sort(key=lambda row: row[1] + (b"/" if row[0] == b"40000" else b""))
    raw = b"".join(mode + b" " + name + b"\0" + oid.raw for mode, name, oid in rows)
    return repo.odb.write(pygit2.enums.ObjectType.TREE, raw)


def commit(
    repo: pygit2.Repository,
    entries: Mapping[str, Entry],
    *,
    branch: str = "main",
    message: str = "change",
) -> str:
    """Commit ``entries`` as the whole tree on ``branch``; returns the commit id."""
    ref = f"refs/heads/{branch}"
    parents = [repo.references[ref].target] if ref in repo.references else []
    tree = write_tree(repo, entries)
    oid = repo.create_commit(ref, _SIGNATURE, _SIGNATURE, message, tree, parents)
    return str(oid)


def make_remote(path: Path) -> pygit2.Repository:
    """An empty bare repository standing in for the Git host."""
    return pygit2.init_repository(str(path), bare=True)
