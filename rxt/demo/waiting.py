"""Bounded waits on the engine: a scene hands work to the engine (a registration, a webhook, a
drift check) and polls the tenant API or the fakes until it is done, or fails naming what did
not happen. ``rxt.demo.scenes`` calls these.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

from core.errors import RxtError
from rxt.demo import show
from rxt.demo.stage import Feed
from rxt.demo.tenant import TenantApi
from state.models import RunStatus

T = TypeVar("T")

POLL_SECONDS = 0.1
# An apply of the example on the simulators takes a few seconds; a minute and a half leaves
# room for a slow machine and still ends well before a person gives up.
APPLY_SECONDS = 90.0
# A preview or a drift check reads the platforms and plans; it applies nothing.
CHECK_SECONDS = 60.0
_ENGINE_HINT = (
    "run again with RXT_LOG_LEVEL=info to see the engine's log (registration.*, worker and "
    "reconcile events)"
)
_FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class SceneFailed(RxtError):
    """A scene of the demo did not do what it should."""


def fail(scene: str, what: str, *, hint: str = "") -> SceneFailed:
    return SceneFailed(f"scene {scene!r}: {what}", hint=hint or _ENGINE_HINT)


def until(
    check: Callable[[], T | None], *, seconds: float, scene: str, what: str, hint: str = ""
) -> T:
    """Poll ``check`` until it returns something; ``SceneFailed`` saying ``what`` did not
    happen once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise fail(scene, f"{what} did not happen within {seconds:.0f} s", hint=hint)
        time.sleep(POLL_SECONDS)


def finished_run(
    api: TenantApi, environment_id: int, *, after: int, commit: str = ""
) -> dict[str, Any] | None:
    """The environment's newest run past run id ``after`` (at ``commit``, when given), once it
    has finished; None while there is none or it is still going."""
    last = api.environment(environment_id)["sync"]["lastRun"]
    if last is None or int(last["id"]) <= after or (commit and last["commit"] != commit):
        return None
    return last if RunStatus(last["status"]) in _FINISHED else None


def follow_run(
    console: Console, feed: Feed, api: TenantApi, environment_id: int, *,
    after: int, commit: str = "", label: str, scene: str, what: str,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Wait for the engine's run with a progress bar of the changes its drivers apply (the
    bar's length is the stored plan's once the run names it); returns the run and its plan."""
    plan: dict[str, Any] = {}
    with show.progress_bar(console) as progress:
        task = progress.add_task(label, total=None)
        feed.listener = lambda _done: progress.advance(task)

        def done() -> dict[str, Any] | None:
            if not plan:
                _learn_plan(api, environment_id, after=after, into=plan)
                if plan:
                    progress.update(task, total=max(len(plan["body"]["changes"]), 1))
            return finished_run(api, environment_id, after=after, commit=commit)

        try:
            run = until(done, seconds=APPLY_SECONDS, scene=scene, what=what)
        finally:
            feed.listener = None
        if not plan and run.get("planId"):
            plan.update(api.plan(str(run["planId"])))
        if run["status"] == RunStatus.SUCCEEDED:
            total = progress.tasks[0].total or 1
            progress.update(task, total=total, completed=total)
    return run, plan


def _learn_plan(api: TenantApi, environment_id: int, *, after: int, into: dict[str, Any]) -> None:
    last = api.environment(environment_id)["sync"]["lastRun"]
    if last is not None and int(last["id"]) > after and last.get("planId"):
        into.update(api.plan(str(last["planId"])))
