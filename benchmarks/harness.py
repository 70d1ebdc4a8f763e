"""The shape every benchmark module returns, and the one table they are printed in.

A module ``benchmarks/bench_<area>.py`` defines ``run() -> list[Row]``. Each row prints raw
figures and a ratio measured in the same run, and says whether the bar was met.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One bar of BENCHMARKS.md: its id, what ran, the figures, the bar and the verdict."""

    bar: str
    what: str
    figures: str
    target: str
    passed: bool


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of ``repeats`` runs of ``work``, in seconds; the minimum resists noise."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Time a block: ``with stopwatch() as t: ...`` then ``t[0]`` holds seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
