"""The engine as the demo runs it: ``rxt serve``'s ``Engine`` on the demo's store and simulated
sites, posting previews to the GitHub fake, and the ``RegistrationRefresher`` that adopts the
repository registered through the tenant API. ``rxt.demo.stage`` enters ``running_engine``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.applying import ApplyLimits, RetryPolicy
from reconciler.reconciling import Options
from reconciler.sites import Sites
from reconciler.wiring.connections import close_all
from reconciler.wiring.engine import Engine, EngineSettings
from reconciler.wiring.registered import RegistrationRefresher
from reconciler.wiring.reviews import ForgeAccess
from reconciler.workers import WorkerOptions
from state.store import Store

WORKERS = 2
# Bounded waits on the simulators: a hang ends the scene long before a person gives up.
OPTIONS = Options(
    holder="rxt-demo", limits=ApplyLimits(health_timeout=60.0, health_poll=0.1, deadline=240.0)
)
# Workers look for work ten times a second (``rxt serve`` once a second) so that each scene
# follows its webhook at once; one quick retry of a transient failure, then the item fails and
# the scene waiting on it says so instead of waiting through the production backoff.
WORKER = WorkerOptions(
    hold=dt.timedelta(minutes=5), poll_seconds=0.1, attempts=2,
    retry=RetryPolicy(base_seconds=0.5, cap_seconds=2.0),
)  # fmt: skip
# The registration wakes the refresher at once; this is only its fallback period, as in serve.
REFRESH_SECONDS = 30.0
# How long stopping waits for a worker to finish the item it holds.
STOP_SECONDS = 60.0


@dataclass(frozen=True)
class Running:
    """The started engine and the refresher that feeds it registered repositories."""

    engine: Engine
    refresher: RegistrationRefresher


@contextmanager
def running_engine(
    store: Store, *, sites: Sites, forge: ForgeAccess, cache_dir: Path
) -> Iterator[Running]:
    """Start the engine's workers and the refresher; stop both (and close the sites' drivers)
    on the way out, also on an error or Ctrl-C."""
    settings = EngineSettings(
        workers=WORKERS, options=OPTIONS, worker=WORKER, drift_schedule=False, forge=forge
    )
    try:
        engine = Engine(store, sites, [], settings=settings)
    except BaseException:
        close_all(sites)
        raise
    refresher = RegistrationRefresher(engine, cache_dir=cache_dir, interval=REFRESH_SECONDS)
    try:
        engine.start()
        refresher.start()
        yield Running(engine, refresher)
    finally:
        # The refresher first: it adds sources and queues work for the engine.
        refresher.stop(timeout=STOP_SECONDS)
        engine.stop(timeout=STOP_SECONDS)
