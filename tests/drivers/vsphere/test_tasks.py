"""Task handling with fake tasks and a fake clock: the asynchronous states vcsim never shows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pyVmomi import vim

from core.errors import OwnershipConflict
from drivers.vsphere.faults import PowerCycleRequired
from drivers.vsphere.tasks import TaskRunner, TaskStillRunning


@dataclass
class Info:
    key: str
    state: str
    result: Any = None
    error: Any = None


class FakeTask:
    """A task whose ``info`` walks through scripted states, one per read."""

    def __init__(self, key: str, *states: str, result: Any = None, error: Any = None) -> None:
        self.key = key
        self._states: Iterator[str] = iter(states)
        self._last = states[0]
        self._result, self._error = result, error
        self.reads = 0

    @property
    def info(self) -> Info:
        self.reads += 1
        self._last = next(self._states, self._last)
        return Info(self.key, self._last, self._result, self._error)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def runner(clock: FakeClock, **options: Any) -> TaskRunner:
    return TaskRunner(clock=clock, sleep=clock.sleep, poll=1.0, **options)


def test_a_queued_then_running_task_is_polled_until_it_succeeds() -> None:
    clock = FakeClock()
    task = FakeTask("task-1", "queued", "running", "running", "success", result="vm-42")
    result = runner(clock).run(lambda: task, vm_key="vm-1", cluster="C0", resource="r", doing="d")
    assert result == "vm-42"
    assert clock.slept == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (vim.fault.DuplicateName(name="acme-prod-payments-0"), OwnershipConflict),
        (vim.fault.CpuHotPlugNotSupported(), PowerCycleRequired),
    ],
    ids=["duplicate-name", "hot-plug-refused"],
)
def test_a_failed_task_raises_its_classified_fault(fault: Any, expected: type[Exception]) -> None:
    task = FakeTask("task-2", "running", "error", error=fault)
    tasks = runner(FakeClock())
    with pytest.raises(expected) as caught:
        tasks.run(lambda: task, vm_key="vm-1", cluster="C0", resource="r", doing="cloning")
    assert caught.value.__cause__ is fault
    assert tasks.in_flight == {}


def test_a_task_past_its_deadline_stays_tracked_and_the_next_one_waits_for_it() -> None:
    clock = FakeClock()
    tasks = runner(clock, timeout=3.0)
    slow = FakeTask("task-3", "running", "running", "running", "running", "running", "success")
    with pytest.raises(TaskStillRunning, match="task-3 still running"):
        tasks.run(lambda: slow, vm_key="vm-1", cluster="C0", resource="r", doing="reconfiguring")
    assert tasks.in_flight == {"vm-1": slow}

    started: list[int] = []

    def start_second() -> FakeTask:
        started.append(slow.reads)
        return FakeTask("task-4", "success")

    tasks.run(start_second, vm_key="vm-1", cluster="C0", resource="r", doing="powering on")
    assert started == [6]  # the second task started only after the first read as finished
    assert tasks.in_flight == {}


def test_a_failure_of_someone_elses_task_is_only_waited_for() -> None:
    task = FakeTask("task-5", "running", "error", error=vim.fault.InvalidPowerState())
    runner(FakeClock()).wait_all([task], resource="r")
    assert task.reads == 2


def test_tasks_on_one_cluster_are_capped() -> None:
    tasks = runner(FakeClock(), per_cluster=2)
    entered = threading.Semaphore(0)
    release = threading.Event()

    def start() -> FakeTask:
        entered.release()
        release.wait(timeout=10)
        return FakeTask("t", "success")

    threads = [
        threading.Thread(
            target=tasks.run,
            args=(start,),
            kwargs={"vm_key": f"vm-{i}", "cluster": "C0", "resource": "r", "doing": "d"},
        )
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
    assert entered.acquire(timeout=10)
    assert entered.acquire(timeout=10)
    slot = tasks._slot("C0")
    assert not slot.acquire(blocking=False), "a third task got a slot on a capped cluster"
    assert tasks._slot("C1").acquire(blocking=False), "another cluster must not be capped"
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert entered.acquire(timeout=10)  # the third ran once a slot was free
