"""Waiting for NSX to realize written intent: poll the realized-state API until done or timed out.

The driver calls ``wait_realized`` after each write and ``realization`` for ``health``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from core.errors import FatalError, TransientError
from drivers.nsx.client import NsxClient

REALIZED_ENTITIES = "/infra/realized-state/realized-entities"


def realization(client: NsxClient, path: str) -> tuple[str, str]:
    """The worst state of ``path``'s realized entities and the alarms' text.

    ``ERROR`` beats ``IN_PROGRESS``/``UNREALIZED`` beats ``REALIZED``; no entity yet counts
    as ``UNREALIZED``.
    """
    answer = client.get(
        REALIZED_ENTITIES, what=f"realization of {path}", params={"intent_path": path}
    )
    entities = answer.get("results", []) if isinstance(answer, dict) else []
    states = {str(entity.get("state", "UNREALIZED")) for entity in entities} or {"UNREALIZED"}
    alarms = [
        str(alarm.get("message", ""))
        for entity in entities
        for alarm in entity.get("alarms") or []
        if isinstance(alarm, dict)
    ]
    if "ERROR" in states:
        return "ERROR", "; ".join(alarms) or "no alarm text"
    if states == {"REALIZED"}:
        return "REALIZED", ""
    return "IN_PROGRESS", ""


def wait_realized(
    client: NsxClient,
    paths: Iterable[str],
    *,
    timeout: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Poll every path until all are REALIZED; returns the number of polls made.

    Raises:
        FatalError: a path reports ERROR (NSX could not build it; a person must look).
        TransientError: some path is still not realized after ``timeout`` seconds.
    """
    pending = list(dict.fromkeys(paths))
    deadline = clock() + timeout
    polls = 0
    while pending:
        for path in list(pending):
            state, alarms = realization(client, path)
            polls += 1
            if state == "ERROR":
                raise FatalError(
                    f"NSX failed to realize {path}: {alarms}",
                    hint="read the alarms in NSX Manager; fix the object or the platform",
                    resource=path,
                )
            if state == "REALIZED":
                pending.remove(path)
        if pending and clock() >= deadline:
            raise TransientError(
                f"NSX did not realize {', '.join(pending)} within {timeout:g} s",
                hint="the intent is stored; the next reconcile checks realization again",
                resource=pending[0],
            )
        if pending:
            client.sleep(interval)
    return polls
