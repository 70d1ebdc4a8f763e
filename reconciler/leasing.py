"""Holding an environment's lease for the length of one reconcile, and what a busy one means.

``reconciler.reconciling`` takes the lease; workers turn ``EnvironmentBusy`` into a retry later.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.errors import LeaseLost, StateError
from core.logs import get_logger
from state.leases import Lease, Leases, environment_lease_name

if TYPE_CHECKING:
    from reconciler.reconciling import Options, Target

log = get_logger()


class EnvironmentBusy(StateError):
    """Another engine holds the environment's lease; the work is retried later."""


@contextmanager
def held_lease(leases: Leases, target: Target, options: Options) -> Iterator[Lease]:
    """The environment's lease for the block; released at the end unless it was lost.

    Raises:
        EnvironmentBusy: another holder has the lease now.
    """
    name = environment_lease_name(target.tenant, target.environment)
    lease = leases.acquire(name, holder=options.holder, ttl=options.lease_ttl)
    if lease is None:
        current = leases.current(name)
        holder = current.holder if current else "another engine"
        raise EnvironmentBusy(
            f"environment {target.name} is being applied by {holder}",
            hint="the work is retried once the other engine releases the lease",
        )
    lost = False
    try:
        yield lease
    except LeaseLost:
        lost = True
        raise
    finally:
        if not lost:
            try:
                leases.release(lease)
            except StateError as error:
                log.warning("lease.release_failed", lease=name, error=error.message)


class LeaseKeeper:
    """Renews a lease from a thread of its own every third of its time to live while an apply
    runs, so a slow platform call never lets it lapse. A renewal refused (the lease was taken)
    stops the renewals; the apply's next fenced write then fails with ``LeaseLost``."""

    def __init__(self, leases: Leases, lease: Lease, *, ttl: dt.timedelta) -> None:
        self.leases, self.lease, self.ttl = leases, lease, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="rxt-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            try:
                self.lease = self.leases.renew(self.lease, ttl=self.ttl)
            except StateError as error:
                log.warning("lease.renewal_refused", lease=self.lease.name, error=error.message)
                return
