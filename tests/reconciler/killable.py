"""A reconcile that a test can SIGKILL at any point (bar R1).

Run as ``python -m tests.reconciler.killable``: the process imports everything once, then for
each JSON job read from stdin forks a child that reconciles one environment at one commit, and
prints ``{"pid": ...}`` then ``{"exit": ...}``. Forking a warm process makes each run start in
milliseconds, so the kill lands inside the apply rather than inside Python's imports.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from reconciler.applying import ApplyLimits
from reconciler.mirrors import RepositoryMirror
from reconciler.reconciling import Options, Reconciler, Target
from reconciler.wiring.config import parse_config
from reconciler.wiring.connections import connect
from state.store import open_store


def reconcile(job: dict[str, Any]) -> str:
    """One reconcile as an engine process would run it; returns the result's status."""
    config = parse_config(job["config"])
    store = open_store(job["database"], key_path=Path(job["key"]))
    mirror = RepositoryMirror(job["remote"], cache_dir=config.cache_dir)
    target = Target(job["tenant"], job["environment"], mirror, job["remote"])
    options = Options(
        holder="r1-engine", limits=ApplyLimits(health_timeout=30.0, health_poll=0.1, deadline=60.0)
    )
    result = Reconciler(store, connect(config), options=options).reconcile(target, job["commit"])
    return result.status


def _child(job: dict[str, Any]) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        status = reconcile(job)
    except BaseException:
        traceback.print_exc()
        os._exit(3)
    os._exit(0 if status in {"succeeded", "unchanged"} else 2)


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": status}), flush=True)


if __name__ == "__main__":
    main()
