"""The demo's tenant repository: a bare repository made from the example repository, with
commits on ``main`` and on review branches, which ``rxt.demo.githost`` serves to the engine.
``rxt.demo.story`` makes it; the scenes commit to it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pygit2

_AUTHOR = pygit2.Signature("RXT Demo", "demo@rxt.invalid")


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to it, in a stable order."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class DemoRepository:
    """A bare "remote" named ``name`` (``owner/repo``) under ``folder``, holding the example
    repository; ``url`` is where the engine fetches it (the Git host's URL)."""

    def __init__(self, folder: Path, *, example: Path, name: str, url: str = "") -> None:
        self.name = name
        self.path = folder / f"{name}.git"
        self.remote = pygit2.init_repository(str(self.path), bare=True)
        self.url = url or f"file://{self.path}"
        self.main_files = read_files(example)
        self.review_files: dict[str, bytes] = {}

    def commit(
        self,
        branch: str,
        files: Mapping[str, bytes],
        *,
        message: str,
        parents: Sequence[str] | None = None,
    ) -> str:
        """Commit ``files`` as the whole tree on ``branch``."""
        index = pygit2.Index()
        for path, content in sorted(files.items()):
            blob = self.remote.create_blob(content)
            index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
        tree = index.write_tree(self.remote)
        ref = f"refs/heads/{branch}"
        if parents is None:
            parents = (
                [str(self.remote.references[ref].target)] if ref in self.remote.references else []
            )
        oids = [pygit2.Oid(hex=p) for p in parents]
        made = self.remote.create_commit(ref, _AUTHOR, _AUTHOR, message, tree, oids)
        return str(made)

    def initial(self) -> str:
        """The example repository as the first commit of ``main``."""
        return self.commit("main", self.main_files, message="Add the acme environments")

    def branch(self, name: str, edits: Mapping[str, Callable[[str], str]], *, message: str) -> str:
        """A review branch off ``main`` with each file in ``edits`` rewritten."""
        base = self.head("main")
        files = dict(self.main_files)
        for path, edit in edits.items():
            files[path] = edit(files[path].decode()).encode()
        self.review_files = files
        return self.commit(name, files, message=message, parents=[base])

    def open_review(self, branch: str, *, number: int) -> None:
        """Point ``refs/pull/<number>/head`` at the branch's head, as GitHub does for a pull
        request (the engine fetches these refs to preview heads pushed to forks)."""
        head = self.remote.references[f"refs/heads/{branch}"].target
        self.remote.references.create(f"refs/pull/{number}/head", head, force=True)

    def merge(self, branch: str, *, message: str) -> str:
        """Merge ``branch`` into ``main`` with a merge commit (``main`` has not moved, so the
        merged tree is the branch's)."""
        base, head = self.head("main"), self.head(branch)
        self.main_files = dict(self.review_files)
        return self.commit("main", self.main_files, message=message, parents=[base, head])

    def head(self, branch: str) -> str:
        return str(self.remote.references[f"refs/heads/{branch}"].target)
