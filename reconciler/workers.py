"""Workers: claim items of the state store's work queue and run reconciles, drift checks and
previews; complete them, or fail them with a time to retry at.

``reconciler.wiring.engine`` starts a few ``Worker`` threads and stops them gracefully: a
worker finishes the item in hand, then returns.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import ConfigError, LeaseLost, PlatformError, RxtError, StateError
from core.logs import get_logger
from reconciler.applying import RetryPolicy
from reconciler.leasing import EnvironmentBusy
from reconciler.reconciling import Target
from state.queue import Claimed, WorkQueue

log = get_logger()

RECONCILE = "reconcile"
DRIFT = "drift"
PREVIEW = "preview"


class Handler(Protocol):
    """Runs one claimed item; raises to fail it."""

    def __call__(self, target: Target, payload: Mapping[str, Any]) -> object: ...


class Fetchable(Protocol):
    def fetch(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker claims and retries: items are held for ``hold``; a failed item is retried
    with jittered backoff up to ``attempts`` times in all."""

    hold: dt.timedelta = dt.timedelta(minutes=10)
    poll_seconds: float = 1.0
    attempts: int = 8
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(base_seconds=2.0, cap_seconds=300.0)
    )


def item_key(tenant: str, environment: str) -> str:
    """The work queue key of everything about one environment."""
    return f"{tenant}/{environment}"


def retryable(error: BaseException) -> bool:
    """Whether a failed item is worth another try later."""
    if isinstance(error, EnvironmentBusy | LeaseLost):
        return True
    return isinstance(error, PlatformError) and error.retryable


class Worker:
    """One worker thread's loop over the shared queue."""

    def __init__(
        self,
        queue: WorkQueue,
        *,
        name: str,
        targets: Callable[[str], Target | None],
        handlers: Mapping[str, Handler],
        options: WorkerOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.name = name
        self.targets = targets
        self.handlers = handlers
        self.options = options or WorkerOptions()
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter, not secrecy
        self.handled = 0

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; the item in hand is finished first."""
        log.info("worker.started", worker=self.name)
        while not stop.is_set():
            if not self.step():
                stop.wait(self.options.poll_seconds)
        log.info("worker.stopped", worker=self.name, handled=self.handled)

    def step(self) -> bool:
        """Claim and run one item; False when the queue had nothing ready."""
        claimed = self.queue.claim(worker=self.name, limit=1, hold=self.options.hold)
        if not claimed:
            return False
        self.handle(claimed[0])
        return True

    def handle(self, item: Claimed) -> None:
        """Run one claimed item and report its end to the queue."""
        self.handled += 1
        try:
            self._run(item)
        except RxtError as error:
            self._failed(item, error)
            return
        except Exception as error:  # a bug must not kill the worker; the item fails for good
            log.exception("work.crashed", item=item.id, kind=item.kind)
            self._report(item, error=f"{type(error).__name__}: {error}", retry_at=None)
            return
        self._report(item, error="", retry_at=None)

    def _run(self, item: Claimed) -> None:
        handler = self.handlers.get(item.kind)
        if handler is None:
            raise ConfigError(f"work item {item.id} has an unknown kind {item.kind!r}")
        target = self.targets(item.key)
        if target is None:
            raise ConfigError(
                f"work item {item.id}: environment {item.key!r} is not configured",
                hint="add the environment to the engine's configuration",
            )
        handler(target, item.payload)

    def _failed(self, item: Claimed, error: RxtError) -> None:
        retry_at = None
        if retryable(error) and item.attempts < self.options.attempts:
            pause = self.options.retry.delay(item.attempts - 1, self.rng)
            retry_at = self.queue.clock() + dt.timedelta(seconds=pause)
        log.warning(
            "work.failed", item=item.id, kind=item.kind, key=item.key, error=error.message,
            retry_at=retry_at.isoformat() if retry_at else None,
        )  # fmt: skip
        self._report(item, error=error.render(), retry_at=retry_at)

    def _report(self, item: Claimed, *, error: str, retry_at: dt.datetime | None) -> None:
        try:
            if error:
                self.queue.fail(item.id, worker=self.name, error=error, retry_at=retry_at)
            else:
                self.queue.complete(item.id, worker=self.name)
        except StateError as lapsed:
            # The claim ran out and another worker took the item: it reports, not us.
            log.warning("work.claim_lapsed", item=item.id, error=lapsed.message)
