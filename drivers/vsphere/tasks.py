"""vSphere tasks: one at a time per VM, a cap per cluster, waited on with a deadline.

``VsphereDriver`` runs every ``*_Task`` method through ``TaskRunner.run``; a failed task's fault
is classified by ``faults.classify``. The clock and sleep are injectable so tests need not wait.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from core.errors import PlatformError, TransientError
from drivers.vsphere.faults import classify, translated


class TaskStillRunning(TransientError):
    """A task outlived its deadline; it stays tracked and the next task on its VM waits for it."""


class TaskRunner:
    """Starts tasks and waits for them.

    A per-VM lock is held from start to end of a task, so a second change to the same VM waits
    for the first instead of racing it; a semaphore per cluster caps tasks in flight there.
    """

    def __init__(
        self,
        *,
        per_cluster: int = 4,
        timeout: float = 600.0,
        poll: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_cluster = per_cluster
        self._timeout = timeout
        self._poll = poll
        self._clock = clock
        self._sleep = sleep
        self._guard = threading.Lock()
        self._vm_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._cluster_slots: dict[str, threading.BoundedSemaphore] = {}
        self.in_flight: dict[str, Any] = {}

    def run(
        self, start: Callable[[], Any], *, vm_key: str, cluster: str, resource: str, doing: str
    ) -> Any:
        """Start a task with ``start()`` and return its result once it succeeds.

        Raises:
            PlatformError: the task's fault, classified; TransientError when it outlives the
                deadline (it stays tracked, and the next task on the VM waits for it).
        """
        with self._vm_lock(vm_key), self._slot(cluster):
            earlier = self.in_flight.pop(vm_key, None)
            if earlier is not None:
                self.wait(
                    earlier, resource=resource, doing="waiting for an earlier task", quiet=True
                )
            with translated(resource=resource, doing=doing):
                task = start()
            self.in_flight[vm_key] = task
            try:
                result = self.wait(task, resource=resource, doing=doing)
            except TaskStillRunning:
                raise
            except PlatformError:
                self.in_flight.pop(vm_key, None)
                raise
            self.in_flight.pop(vm_key, None)
            return result

    def wait_all(self, tasks: Iterable[Any], *, resource: str) -> None:
        """Wait for tasks someone else started on an object before we change it."""
        for task in tasks:
            self.wait(task, resource=resource, doing="waiting for a running task", quiet=True)

    def wait(self, task: Any, *, resource: str, doing: str, quiet: bool = False) -> Any:
        """Poll ``task.info`` until it succeeds, fails or the deadline passes."""
        deadline = self._clock() + self._timeout
        while True:
            with translated(resource=resource, doing=doing):
                info = task.info
            state = str(info.state)
            if state == "success":
                return info.result
            if state == "error":
                if quiet:
                    return None  # someone else's failure is theirs; we only waited for it
                raise classify(info.error, resource=resource, doing=doing) from info.error
            if self._clock() >= deadline:
                raise TaskStillRunning(
                    f"{resource}: {doing}: task {info.key} still {state} "
                    f"after {self._timeout:.0f}s",
                    hint="retry later; the next change to this VM waits for that task",
                    resource=resource,
                )
            self._sleep(self._poll)

    def _vm_lock(self, vm_key: str) -> threading.Lock:
        with self._guard:
            return self._vm_locks[vm_key]

    def _slot(self, cluster: str) -> threading.BoundedSemaphore:
        with self._guard:
            if cluster not in self._cluster_slots:
                self._cluster_slots[cluster] = threading.BoundedSemaphore(self._per_cluster)
            return self._cluster_slots[cluster]
