"""The process's planning thread: every planner call that evaluates Rego runs on it.

regorus engines may only be touched by the thread that made them, and the planner keeps
compiled policy bundles for reuse across calls; so the reconcile loop, drift heals and
previews of one process plan on this one thread (``reconciler.reconciling``, ``sites``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

PLAN_TIMEOUT_SECONDS = 600.0
_PLANNING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rxt-plan")
_local = threading.local()


def on_planning_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``function`` on the planning thread and wait for it, at most ten minutes.

    Called from the planning thread itself, it runs at once (no deadlock on nested calls).
    """
    if getattr(_local, "planning", False):
        return function(*args, **kwargs)
    return _PLANNING.submit(_marked, function, args, kwargs).result(timeout=PLAN_TIMEOUT_SECONDS)


def _marked(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    _local.planning = True
    return function(*args, **kwargs)
