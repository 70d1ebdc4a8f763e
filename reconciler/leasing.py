"""Holding an environment's lease for the length of one reconcile, and what a busy one means.

``reconciler.reconciling`` takes the lease; workers turn ``EnvironmentBusy`` into a retry later.
"""

from __future__ import annotations

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
