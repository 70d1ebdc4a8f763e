"""The work queue: enqueue, claim, complete, fail with a retry time; lapsed claims come back."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import StateError
from state.models import WorkStatus
from state.store import Store
from tests.state.conftest import FakeClock


def test_items_are_claimed_oldest_first_and_only_once(store: Store, clock: FakeClock) -> None:
    ids = []
    for n in range(3):
        ids.append(store.queue.enqueue("reconcile", key=f"acme/env-{n}", payload={"n": n}))
        clock.advance(1)
    first = store.queue.claim(worker="w1", limit=2)
    second = store.queue.claim(worker="w2", limit=2)
    assert [item.id for item in first] == ids[:2]
    assert [item.id for item in second] == ids[2:]
    assert first[0].payload == {"n": 0}
    assert store.queue.claim(worker="w3") == []


def test_a_failed_item_is_retried_at_the_given_time_and_then_completed(
    store: Store, clock: FakeClock
) -> None:
    item_id = store.queue.enqueue("reconcile", key="acme/prod")
    [claimed] = store.queue.claim(worker="w1")
    store.queue.fail(
        item_id, worker="w1", error="vCenter busy", retry_at=clock.now + dt.timedelta(seconds=30)
    )
    assert store.queue.claim(worker="w1") == []
    clock.advance(30)
    [again] = store.queue.claim(worker="w1")
    assert (again.id, again.attempts) == (claimed.id, 2)
    store.queue.complete(item_id, worker="w1")
    assert store.queue.status(item_id) is WorkStatus.DONE


def test_a_failure_without_retry_time_is_final(store: Store) -> None:
    item_id = store.queue.enqueue("drift", key="acme/prod")
    store.queue.claim(worker="w1")
    store.queue.fail(item_id, worker="w1", error="manifest broken", retry_at=None)
    assert store.queue.status(item_id) is WorkStatus.FAILED


def test_a_claim_that_ran_out_goes_to_another_worker_and_the_first_cannot_report(
    store: Store, clock: FakeClock
) -> None:
    item_id = store.queue.enqueue("reconcile", key="acme/prod")
    store.queue.claim(worker="w1", hold=dt.timedelta(seconds=60))
    clock.advance(61)
    [taken] = store.queue.claim(worker="w2")
    assert taken.id == item_id
    with pytest.raises(StateError, match="not claimed by 'w1'"):
        store.queue.complete(item_id, worker="w1")


def test_an_item_ready_later_is_not_claimed_before_its_time(store: Store, clock: FakeClock) -> None:
    store.queue.enqueue("drift", key="acme/prod", run_at=clock.now + dt.timedelta(minutes=5))
    assert store.queue.claim(worker="w1") == []
    clock.advance(300)
    assert len(store.queue.claim(worker="w1")) == 1
