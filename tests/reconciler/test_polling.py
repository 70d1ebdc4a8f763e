"""Polling on an interval with jitter, with an injected clock and random source."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TransientError
from reconciler.mirrors import RepositoryMirror
from reconciler.polling import NewCommit, Poller, next_poll_at
from tests.reconciler.gitrepos import commit, make_remote


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(0.0, 190.0), (0.5, 200.0), (0.999999, 209.99998), (0.25, 195.0)],
)
def test_the_next_poll_moves_by_at_most_the_jitter(rand: float, expected: float) -> None:
    at = next_poll_at(100.0, interval=100.0, jitter=0.1, rand=lambda: rand)
    assert at == pytest.approx(expected)


@pytest.mark.parametrize(("interval", "jitter"), [(0.0, 0.1), (-5.0, 0.1), (10.0, 1.0)])
def test_a_nonsense_interval_or_jitter_is_refused(interval: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"interval|jitter"):
        next_poll_at(0.0, interval=interval, jitter=jitter, rand=lambda: 0.5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_poller_reports_a_new_commit_once_and_only_when_due(tmp_path: Path) -> None:
    remote_dir = tmp_path / "remote.git"
    remote = make_remote(remote_dir)
    first = commit(remote, {"a": b"1"})
    clock = Clock()
    poller = Poller(interval=60.0, jitter=0.1, clock=clock, rand=lambda: 0.5)
    url = f"file://{remote_dir}"
    poller.watch(RepositoryMirror(url, cache_dir=tmp_path / "cache"), branch="main")

    assert poller.poll_due() == [NewCommit(url=url, branch="main", before=None, after=first)]
    second = commit(remote, {"a": b"2"})
    clock.now += 30
    assert poller.poll_due() == []  # not due yet, though the remote moved
    clock.now += 30
    assert poller.poll_due() == [NewCommit(url=url, branch="main", before=first, after=second)]
    clock.now += 60
    assert poller.poll_due() == []  # fetched, nothing new
    assert poller.next_due() == pytest.approx(clock.now + 60)


class Failing:
    url = "https://git.example/broken.git"

    def __init__(self) -> None:
        self.calls = 0

    def fetch(self) -> dict[str, str]:
        self.calls += 1
        raise TransientError("fetch failed")


def test_a_failing_repository_does_not_stop_the_others(tmp_path: Path) -> None:
    remote_dir = tmp_path / "remote.git"
    head = commit(make_remote(remote_dir), {"a": b"1"})
    poller = Poller(interval=60.0, clock=Clock(), rand=lambda: 0.5)
    broken = Failing()
    poller.watch(broken, branch="main")
    poller.watch(RepositoryMirror(str(remote_dir), cache_dir=tmp_path / "c"), branch="main")
    found = poller.poll_due()
    assert [c.after for c in found] == [head]
    assert broken.calls == 1


def test_a_commit_already_handled_is_not_reported_again(tmp_path: Path) -> None:
    remote_dir = tmp_path / "remote.git"
    head = commit(make_remote(remote_dir), {"a": b"1"})
    poller = Poller(interval=60.0, clock=Clock(), rand=lambda: 0.5)
    mirror = RepositoryMirror(str(remote_dir), cache_dir=tmp_path / "c")
    poller.watch(mirror, branch="main", last=head)
    assert poller.poll_due() == []
    poller.unwatch(mirror.url)
    assert poller.next_due() is None
