"""Polling Git sources on an interval with jitter, for repositories without webhooks.

The scheduler (not wired yet) calls ``Poller.poll_due`` on a tick; it fetches each due mirror
and reports a branch that moved to a new commit. Time and randomness are injected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import ConfigError, TransientError
from core.logs import get_logger

log = get_logger()

Clock = Callable[[], float]
Random = Callable[[], float]  # uniform in [0, 1), like random.random


def next_poll_at(now: float, *, interval: float, jitter: float, rand: Random) -> float:
    """When to poll next: ``interval`` seconds on, spread by up to ``jitter`` of it either way.

    The spread keeps many repositories registered at once from fetching in lockstep.
    """
    if interval <= 0:
        raise ValueError("a polling interval must be positive")
    if not 0 <= jitter < 1:
        raise ValueError("jitter is a fraction of the interval in [0, 1)")
    spread = interval * jitter * (2 * rand() - 1)
    return now + interval + spread


class Fetchable(Protocol):
    """What the poller needs of a Git source; ``RepositoryMirror`` is the real one."""

    url: str

    def fetch(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class NewCommit:
    """A tracked branch moved: from ``before`` (None on the first poll) to ``after``."""

    url: str
    branch: str
    before: str | None
    after: str


@dataclass
class _Watch:
    source: Fetchable
    branch: str
    due: float
    last: str | None = None
    failures: int = field(default=0)


class Poller:
    """Fetches each watched repository when due and reports new commits on its branch.

    Args:
        interval: seconds between polls of one repository.
        jitter: fraction of the interval each poll may move earlier or later.
        clock: seconds, monotonic (``time.monotonic`` in production).
        rand: a uniform random source (``random.random`` in production).
    """

    def __init__(self, *, interval: float, jitter: float = 0.1, clock: Clock, rand: Random) -> None:
        self._interval = interval
        self._jitter = jitter
        self._clock = clock
        self._rand = rand
        self._watches: dict[str, _Watch] = {}

    def watch(self, source: Fetchable, *, branch: str, last: str | None = None) -> None:
        """Poll ``source`` for ``branch``; ``last`` is the commit already handled, if any."""
        due = self._next(self._clock() - self._interval)  # first poll roughly now
        self._watches[source.url] = _Watch(source=source, branch=branch, due=due, last=last)

    def unwatch(self, url: str) -> None:
        self._watches.pop(url, None)

    def next_due(self) -> float | None:
        """The earliest time a repository is due, or None when nothing is watched."""
        return min((w.due for w in self._watches.values()), default=None)

    def poll_due(self) -> list[NewCommit]:
        """Fetch every repository now due; return the branches that moved since last time.

        A failed fetch is logged and retried at the next due time; it never stops the others.
        """
        now = self._clock()
        moved: list[NewCommit] = []
        for watch in list(self._watches.values()):
            if watch.due > now:
                continue
            watch.due = self._next(now)
            found = self._poll(watch)
            if found is not None:
                moved.append(found)
        return moved

    def _poll(self, watch: _Watch) -> NewCommit | None:
        try:
            heads = watch.source.fetch()
        except (TransientError, ConfigError) as error:
            watch.failures += 1
            log.warning(
                "repository.poll_failed",
                url=watch.source.url,
                error=error.message,
                n=watch.failures,
            )
            return None
        watch.failures = 0
        after = heads.get(watch.branch)
        if after is None or after == watch.last:
            return None
        found = NewCommit(url=watch.source.url, branch=watch.branch, before=watch.last, after=after)
        watch.last = after
        log.info("commit.detected", url=found.url, branch=found.branch, commit=after)
        return found

    def _next(self, now: float) -> float:
        return next_poll_at(now, interval=self._interval, jitter=self._jitter, rand=self._rand)
