"""Sweeping abandoned runs: a run whose lease grant is gone is failed with an audit entry, a run
whose grant is still held is never touched, and a second sweep changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from state.audit import LogFilter
from state.leases import Lease, environment_lease_name
from state.models import RunStatus
from state.runs import RunView
from state.store import Store
from state.verifying import verify_chains
from tests.state.conftest import FakeClock

TTL = dt.timedelta(minutes=5)
LEASE = environment_lease_name("acme", "prod")


def running_run(store: Store, *, holder: str = "engine-a") -> tuple[RunView, Lease]:
    """A run started under a fresh lease of acme/prod, as the reconciler starts one."""
    environment_id = store.catalog.environment("acme", "prod")
    lease = store.leases.acquire(LEASE, holder=holder, ttl=TTL)
    assert lease is not None
    queued = store.runs.queue(environment_id=environment_id, commit="c0ffee")
    return store.runs.move(queued.id, RunStatus.RUNNING, lease=lease), lease


def abandoned_entries(store: Store) -> list[str]:
    entries = store.audit.entries(LogFilter(tenant="acme"))
    return [entry.fields.action for entry in entries if entry.fields.action == "run.abandoned"]


def assert_chains_verify(store: Store) -> None:
    reports = verify_chains(store.database, public_key=store.key.public)
    assert reports
    assert all(report.ok for report in reports)


def test_a_killed_holders_run_is_failed_once_its_lease_expired(
    store: Store, clock: FakeClock
) -> None:
    run, _lease = running_run(store)
    clock.advance(TTL.total_seconds() + 1)

    [swept] = store.runs.sweep_abandoned(audit=store.audit)

    assert swept.id == run.id
    stored = store.runs.get(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.finished_at == clock.now
    assert stored.error is not None
    assert stored.error.startswith(f"abandoned: the engine holding lease {LEASE!r} (token 1)")
    assert "expired" in stored.error
    assert abandoned_entries(store) == ["run.abandoned"]
    assert_chains_verify(store)


def test_a_run_whose_lease_another_engine_took_over_is_failed(
    store: Store, clock: FakeClock
) -> None:
    run, _lease = running_run(store)
    clock.advance(TTL.total_seconds() + 1)
    assert store.leases.acquire(LEASE, holder="engine-b", ttl=TTL) is not None

    [swept] = store.runs.sweep_abandoned(audit=store.audit)

    assert swept.id == run.id
    assert swept.error is not None
    assert "newer grant (token 2)" in swept.error


def test_a_run_whose_holder_released_the_lease_unfinished_is_failed(store: Store) -> None:
    run, lease = running_run(store)
    store.leases.release(lease)

    [swept] = store.runs.sweep_abandoned(audit=store.audit)

    assert (swept.id, swept.status) == (run.id, RunStatus.FAILED)
    assert swept.error is not None
    assert "released" in swept.error


def test_a_run_whose_lease_is_still_held_is_never_swept(store: Store, clock: FakeClock) -> None:
    run, lease = running_run(store)
    # Hours of work, the lease renewed well within its time to live all along.
    for _ in range(40):
        clock.advance(TTL.total_seconds() / 2)
        lease = store.leases.renew(lease, ttl=TTL)
        assert store.runs.sweep_abandoned(audit=store.audit) == []

    assert store.runs.get(run.id).status is RunStatus.RUNNING
    assert abandoned_entries(store) == []
    finished = store.runs.move(run.id, RunStatus.SUCCEEDED, lease=lease)
    assert finished.status is RunStatus.SUCCEEDED


def test_sweeping_twice_changes_nothing_the_second_time(store: Store, clock: FakeClock) -> None:
    run, _lease = running_run(store)
    clock.advance(TTL.total_seconds() + 1)
    assert [view.id for view in store.runs.sweep_abandoned(audit=store.audit)] == [run.id]
    first = store.runs.get(run.id)
    clock.advance(60)

    assert store.runs.sweep_abandoned(audit=store.audit) == []

    assert store.runs.get(run.id) == first
    assert abandoned_entries(store) == ["run.abandoned"]
    assert_chains_verify(store)


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED])
def test_finished_and_queued_runs_are_never_swept(
    store: Store, clock: FakeClock, status: RunStatus
) -> None:
    run, lease = running_run(store)
    store.runs.move(run.id, status, lease=lease, error="x" if status is RunStatus.FAILED else None)
    environment_id = store.catalog.environment("acme", "prod")
    queued = store.runs.queue(environment_id=environment_id, commit="beef")
    clock.advance(TTL.total_seconds() * 3)

    assert store.runs.sweep_abandoned(audit=store.audit) == []

    assert store.runs.get(run.id).status is status
    assert store.runs.get(queued.id).status is RunStatus.QUEUED


def test_only_the_abandoned_run_of_two_environments_is_swept(
    store: Store, clock: FakeClock
) -> None:
    dead, _lease = running_run(store)
    other_env = store.catalog.environment("globex", "prod")
    live_lease = store.leases.acquire(
        environment_lease_name("globex", "prod"), holder="engine-b", ttl=TTL * 4
    )
    assert live_lease is not None
    queued = store.runs.queue(environment_id=other_env, commit="feed")
    live = store.runs.move(queued.id, RunStatus.RUNNING, lease=live_lease)
    clock.advance(TTL.total_seconds() + 1)

    assert [view.id for view in store.runs.sweep_abandoned(audit=store.audit)] == [dead.id]

    assert store.runs.get(live.id).status is RunStatus.RUNNING
    assert store.audit.entries(LogFilter(tenant="globex")) == []
    assert_chains_verify(store)
