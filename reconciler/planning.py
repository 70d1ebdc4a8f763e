"""The process's planning thread: every planner call that evaluates Rego runs on it.

regorus engines may only be touched by the thread that made them, and the planner keeps
compiled policy bundles for reuse across calls; so the reconcile loop, drift heals and
previews of one process plan on this one thread (``reconciler.reconciling``, ``sites``).
The thread is a daemon that lives as long as the process: were it to exit, its engines would
be dropped from another thread, which regorus refuses. For the same reason, when the process
exits normally the thread first drops its engines itself (an ``atexit`` hook).
"""

from __future__ import annotations

import atexit
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from planner.policy import release_engines

T = TypeVar("T")

PLAN_TIMEOUT_SECONDS = 600.0
EXIT_RELEASE_SECONDS = 5.0

_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "Future[Any]"]
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_started = threading.Lock()
_thread: threading.Thread | None = None
_local = threading.local()


def on_planning_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` on the planning thread and wait for it, at most ten minutes.

    Called from the planning thread itself, it runs at once (no deadlock on nested calls).
    """
    if getattr(_local, "planning", False):
        return function(*args, **kwargs)
    _ensure_started()
    future: Future[T] = Future()
    _jobs.put((function, args, kwargs, future))
    return future.result(timeout=PLAN_TIMEOUT_SECONDS)


def _ensure_started() -> None:
    global _thread  # noqa: PLW0603 - one thread per process, started on first use
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_serve, name="rxt-plan", daemon=True)
            _thread.start()
            atexit.register(_release_engines_at_exit)


def _release_engines_at_exit() -> None:
    # Bounded: a planning thread stuck in a long plan must not hold up the process's exit.
    future: Future[None] = Future()
    _jobs.put((release_engines, (), {}, future))
    try:
        future.result(timeout=EXIT_RELEASE_SECONDS)
    except TimeoutError:
        return


def _serve() -> None:
    _local.planning = True
    while True:
        function, args, kwargs, future = _jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
