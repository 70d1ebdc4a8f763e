"""The drift schedule: one APScheduler 3 interval job per environment, on its ``drift.interval``.

``reconciler.wiring.engine`` starts a ``DriftSchedule`` and keeps its jobs in step with the
environments' settings. A job only enqueues a drift check (unless one is already waiting), so a
slow check never holds the scheduler; jobs run one instance at a time, missed runs coalesce
into one, and a jitter keeps many environments from checking in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import ConfigError
from core.logs import get_logger

log = get_logger()

_DURATION = re.compile(r"^(0|[1-9][0-9]*)(s|m|h)?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "": 1}


def interval_seconds(text: str) -> float:
    """``90s``, ``10m``, ``1h`` (or ``0``: disabled) in seconds.

    Raises:
        ConfigError: the text is not such a duration.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ConfigError(
            f"drift interval {text!r} is not a duration", hint="write 90s, 10m, 1h, or 0"
        )
    return float(int(match.group(1)) * _UNIT[match.group(2) or ""])


def jitter_for(seconds: float) -> int:
    """A tenth of the interval, at least a second, so checks of many environments spread out."""
    return max(1, int(seconds / 10))


class DriftSchedule:
    """Interval jobs keyed by environment (``tenant/name``); ``run`` is what a job does."""

    def __init__(self, run: Callable[[str], None], *, max_workers: int = 2) -> None:
        self._run = run
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self.intervals: dict[str, float] = {}

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        """Stop scheduling; a job running now is waited for."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def set(self, key: str, seconds: float, *, jitter: int | None = None) -> None:
        """Check ``key`` every ``seconds``; 0 removes its job (drift checks disabled)."""
        if self.intervals.get(key) == seconds:
            return
        self.remove(key)
        if seconds <= 0:
            log.info("drift_schedule.disabled", environment=key)
            return
        trigger = IntervalTrigger(
            seconds=seconds, jitter=jitter_for(seconds) if jitter is None else jitter
        )
        self.scheduler.add_job(
            self._run, trigger, args=[key], id=key, name=f"drift {key}", replace_existing=True
        )
        self.intervals[key] = seconds
        log.info("drift_schedule.set", environment=key, seconds=seconds)

    def remove(self, key: str) -> None:
        if self.intervals.pop(key, None) is not None and self.scheduler.get_job(key):
            self.scheduler.remove_job(key)

    def jobs(self) -> list[str]:
        """The keys of the scheduled environments."""
        return sorted(job.id for job in self.scheduler.get_jobs())
