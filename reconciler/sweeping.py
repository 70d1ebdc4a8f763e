"""Sweeping up runs that a killed engine left running, at engine start and then periodically,
and pruning the preview ledger of what old merges needed, once an hour.

``reconciler.wiring.engine`` calls ``sweep_abandoned_runs`` once before its workers start and
runs ``start_sweeping`` beside them; ``state.runs.Runs.sweep_abandoned`` decides what is abandoned
and ``state.previews.PreviewStore.prune`` what of the ledger goes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from core.errors import StateError
from core.logs import get_logger
from state.database import utc_now
from state.previews import Pruned
from state.runs import RunView
from state.store import Store

log = get_logger()

# A run can be swept only once its lease is gone, and the engine's lease lives five minutes
# (``reconciling.Options.lease_ttl``); a sweep a minute keeps the lag well under that.
SWEEP_SECONDS = 60.0
# The ledger grows by a row per environment and review head; an hourly prune is plenty.
PRUNE_SECONDS = 3600.0


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


def prune_preview_ledger(
    store: Store, *, retain: dt.timedelta, now: dt.datetime | None = None
) -> Pruned:
    """Delete the ledger rows older than ``retain`` (held verdicts stay); logged when any went.

    A database that cannot be reached is logged and skipped, as a sweep is.
    """
    before = (now or utc_now()) - retain
    try:
        pruned = store.previews.prune(before=before)
    except (StateError, SQLAlchemyError) as error:
        why = error.message if isinstance(error, StateError) else type(error).__name__
        log.warning("previews.prune_failed", error=why)
        return Pruned()
    if pruned != Pruned():
        log.info("previews.pruned", before=before.isoformat(), previews=pruned.previews,
                 merges=pruned.merges, verdicts=pruned.verdicts)  # fmt: skip
    return pruned


def start_sweeping(
    store: Store,
    stop: threading.Event,
    *,
    interval: float = SWEEP_SECONDS,
    retain_previews: dt.timedelta | None = None,
    prune_interval: float = PRUNE_SECONDS,
) -> threading.Thread:
    """Sweep every ``interval`` seconds in a daemon thread until ``stop`` is set; with
    ``retain_previews``, prune the preview ledger at the first sweep and every
    ``prune_interval`` seconds after it."""

    def sweep_until_stopped() -> None:
        next_prune = time.monotonic()
        while not stop.wait(interval):
            sweep_abandoned_runs(store)
            if retain_previews is not None and time.monotonic() >= next_prune:
                prune_preview_ledger(store, retain=retain_previews)
                next_prune = time.monotonic() + prune_interval

    thread = threading.Thread(target=sweep_until_stopped, name="rxt-sweep", daemon=True)
    thread.start()
    return thread
