"""Sweeping up runs that a killed engine left running: at engine start and then periodically.

``reconciler.wiring.engine`` calls ``sweep_abandoned_runs`` once before its workers start and
runs ``start_sweeping`` beside them; ``state.runs.Runs.sweep_abandoned`` decides what is abandoned.
"""

from __future__ import annotations

import threading

from sqlalchemy.exc import SQLAlchemyError

from core.errors import StateError
from core.logs import get_logger
from state.runs import RunView
from state.store import Store

log = get_logger()

# A run can be swept only once its lease is gone, and the engine's lease lives five minutes
# (``reconciling.Options.lease_ttl``); a sweep a minute keeps the lag well under that.
SWEEP_SECONDS = 60.0


def sweep_abandoned_runs(store: Store) -> list[RunView]:
    """Fail every run whose engine stopped before finishing it; one log event per run swept.

    A database that cannot be reached is logged and skipped: the next sweep tries again.
    """
    try:
        swept = store.runs.sweep_abandoned(audit=store.audit)
    except StateError as error:
        log.warning("runs.sweep_failed", error=error.message)
        return []
    except SQLAlchemyError as error:
        # The database's own text can quote row values; the type is enough to act on.
        log.warning("runs.sweep_failed", error=type(error).__name__)
        return []
    for run in swept:
        log.warning("run.abandoned", run_id=run.id, commit=run.commit, error=run.error)
    return swept


def start_sweeping(
    store: Store, stop: threading.Event, *, interval: float = SWEEP_SECONDS
) -> threading.Thread:
    """Sweep every ``interval`` seconds in a daemon thread until ``stop`` is set."""

    def sweep_until_stopped() -> None:
        while not stop.wait(interval):
            sweep_abandoned_runs(store)

    thread = threading.Thread(target=sweep_until_stopped, name="rxt-sweep", daemon=True)
    thread.start()
    return thread
