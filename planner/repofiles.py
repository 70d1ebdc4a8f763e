"""Read files of a tenant's repository without ever leaving it (bar R7 of BENCHMARKS.md).

Every path is resolved before it is opened: ``..``, absolute paths, symlinks that leave the
repository, symlink loops and anything under ``.git/`` are refused; links that stay inside
still work. Called by ``planner.loading``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import Location, ManifestError
from planner.sourcemap import MAX_BYTES

# Folders are walked this deep at most; a repo's layout needs three levels.
_MAX_WALK_DEPTH = 8


def _unreadable(info: os.stat_result) -> tuple[str, str] | None:
    """Why a file must not be read and what to do, or None when it may be read."""
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file", "manifests and policies must be plain files"
    if info.st_size > MAX_BYTES:
        return (
            f"file is {info.st_size} bytes, over the limit of {MAX_BYTES} bytes (1 MiB)",
            "split the application or move large values out of the manifest",
        )
    return None


def _refuse(shown: str, message: str, hint: str) -> ManifestError:
    return ManifestError(message, location=Location(shown), hint=hint)


@dataclass(frozen=True)
class Repository:
    """A repository checkout: the root as given and as resolved; all reads go through it."""

    given: Path
    root: Path

    @classmethod
    def at(cls, root: Path) -> Repository:
        """A repository rooted at ``root`` (a path the operator chose, so it may hold links)."""
        try:
            real = Path(os.path.abspath(root)).resolve(strict=True)
        except (OSError, RuntimeError) as error:
            raise _refuse(str(root), "repository folder not found", "check the path") from error
        if not real.is_dir():
            raise _refuse(str(root), "repository path is not a folder", "pass the repository root")
        return cls(given=Path(os.path.abspath(root)), root=real)

    def shown(self, path: Path) -> str:
        """``path`` as a user sees it in messages: relative to the root, with '/'."""
        absolute = Path(os.path.abspath(path))
        for base in (self.given, self.root):
            if absolute == base or base in absolute.parents:
                return absolute.relative_to(base).as_posix()
        return str(path)

    def check(self, path: Path) -> Path:
        """The real path behind ``path``, once proven to stay inside the repository.

        Raises:
            ManifestError: the path leaves the repository, loops, enters ``.git/`` or is missing.
        """
        shown = self.shown(path)
        lexical = PurePosixPath(shown)
        if lexical.is_absolute() or ".." in lexical.parts:
            raise _refuse(shown, "path leaves the repository", "keep every file inside the repo")
        try:
            real = Path(os.path.abspath(path)).resolve(strict=True)
        except RuntimeError as error:  # Python 3.11 reports a symlink loop this way
            raise _refuse(shown, "symlink loop", "remove the looping link") from error
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise _refuse(shown, "symlink loop", "remove the looping link") from error
            raise _refuse(shown, "file not found", "check the repository layout") from error
        if real != self.root and self.root not in real.parents:
            raise _refuse(
                shown,
                "symlink points outside the repository",
                "replace the link with the file itself; links may only point inside the repo",
            )
        if ".git" in real.relative_to(self.root).parts or ".git" in lexical.parts:
            raise _refuse(shown, "path reaches into .git/", "manifests cannot live in .git/")
        return real

    def read(self, path: Path) -> bytes:
        """The bytes of a regular file inside the repository, at most ``MAX_BYTES`` of them."""
        real = self.check(path)
        shown = self.shown(path)
        try:
            # O_NONBLOCK: opening a FIFO planted in the repo must not hang the engine.
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as error:
            raise _refuse(shown, f"cannot open file: {error.strerror}", "check it") from error
        info = os.fstat(fd)
        problem = _unreadable(info)
        if problem is not None:
            os.close(fd)
            raise _refuse(shown, *problem)
        with os.fdopen(fd, "rb") as handle:
            return handle.read(MAX_BYTES + 1)

    def _entries(self, path: Path, errors: list[ManifestError]) -> Iterator[tuple[Path, Path]]:
        """Each visible entry of a folder as (in-repo path, real path); a refused entry is
        recorded in ``errors`` and skipped, so one bad link hides nothing else."""
        real = self.check(path)
        if not real.is_dir():
            raise _refuse(self.shown(path), "expected a folder, found a file", "make it a folder")
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except OSError as error:
            raise _refuse(
                self.shown(path), f"cannot list folder: {error.strerror}", "check permissions"
            ) from error
        for entry in entries:
            if entry.name.startswith("."):
                continue
            candidate = path / entry.name
            try:
                yield candidate, self.check(candidate)
            except ManifestError as error:
                errors.append(error)

    def folders(self, path: Path, *, errors: list[ManifestError]) -> list[Path]:
        """Sub-folders of ``path`` (by their in-repo names), sorted, hidden ones skipped."""
        return [candidate for candidate, real in self._entries(path, errors) if real.is_dir()]

    def files(
        self, path: Path, *, suffix: str, errors: list[ManifestError], depth: int = 0
    ) -> list[Path]:
        """Files ending in ``suffix`` under ``path``, recursively, sorted."""
        if depth > _MAX_WALK_DEPTH:
            return []
        found: list[Path] = []
        for candidate, real in self._entries(path, errors):
            if real.is_dir():
                found += self.files(candidate, suffix=suffix, errors=errors, depth=depth + 1)
            elif candidate.name.endswith(suffix):
                found.append(candidate)
        return found
