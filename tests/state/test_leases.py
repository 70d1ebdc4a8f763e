"""Leases with fencing tokens (bar R3, in part): a paused holder loses the lease and its late
writes are refused; tokens only grow. Time moves by a fake clock, never by sleeping.
"""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import LeaseLost, StateError
from state.leases import environment_lease_name
from state.models import RunStatus
from state.store import Store
from tests.state.conftest import FakeClock

TTL = dt.timedelta(seconds=30)
NAME = environment_lease_name("acme", "prod")


def test_a_free_lease_is_granted_and_a_held_one_is_refused(store: Store) -> None:
    first = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert first is not None
    assert first.token == 1
    assert store.leases.acquire(NAME, holder="engine-b", ttl=TTL) is None
    assert store.leases.current(NAME) == first


def test_a_holder_paused_past_its_lease_loses_it_and_its_late_writes_are_refused(
    store: Store, clock: FakeClock
) -> None:
    env = store.catalog.environment("acme", "prod")
    run = store.runs.queue(environment_id=env, commit="a" * 40)
    old = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert old is not None
    store.runs.move(run.id, RunStatus.RUNNING, lease=old)

    clock.advance(31)  # engine-a is paused (a long GC, a stopped VM) past its lease
    new = store.leases.acquire(NAME, holder="engine-b", ttl=TTL)
    assert new is not None
    assert new.token > old.token

    with pytest.raises(LeaseLost, match="stale"):
        store.runs.move(run.id, RunStatus.SUCCEEDED, lease=old)
    with pytest.raises(LeaseLost, match="stale"):
        store.runs.record_applied(
            lease=old, environment_id=env, owner_key="acme/prod/web/vm", ref="vm", spec={"cpu": 2}
        )
    with pytest.raises(LeaseLost):
        store.leases.renew(old, ttl=TTL)
    assert store.runs.get(run.id).status is RunStatus.RUNNING
    assert store.runs.applied(env) == []

    store.runs.move(run.id, RunStatus.FAILED, lease=new, error="taken over")
    assert store.runs.get(run.id).status is RunStatus.FAILED


def test_an_expired_lease_refuses_writes_even_before_anyone_takes_it_over(
    store: Store, clock: FakeClock
) -> None:
    env = store.catalog.environment("acme", "prod")
    lease = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert lease is not None
    clock.advance(30)
    with pytest.raises(LeaseLost, match="expired"):
        store.runs.record_applied(
            lease=lease, environment_id=env, owner_key="acme/prod/web/vm", ref="vm", spec={}
        )


def test_renewing_keeps_the_token_and_pushes_the_expiry(store: Store, clock: FakeClock) -> None:
    lease = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert lease is not None
    clock.advance(20)
    renewed = store.leases.renew(lease, ttl=TTL)
    clock.advance(20)
    assert renewed.token == lease.token
    assert store.leases.acquire(NAME, holder="engine-b", ttl=TTL) is None


def test_tokens_only_grow_across_releases_and_takeovers(store: Store, clock: FakeClock) -> None:
    tokens = []
    for holder in ("a", "b", "a", "c"):
        lease = store.leases.acquire(NAME, holder=holder, ttl=TTL)
        assert lease is not None
        tokens.append(lease.token)
        if holder == "b":
            store.leases.release(lease)
        else:
            clock.advance(31)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)


def test_applied_state_is_recorded_with_its_hash_under_a_valid_lease(store: Store) -> None:
    env = store.catalog.environment("acme", "prod", repository="https://git.example/acme")
    lease = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert lease is not None
    for cpu in (2, 4):
        store.runs.record_applied(
            lease=lease,
            environment_id=env,
            owner_key="acme/prod/web/vm",
            ref="vm",
            spec={"cpu": cpu},
        )
    [applied] = store.runs.applied(env)
    assert applied.spec == {"cpu": 4}
    assert applied.spec_hash.startswith("sha256:")


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (RunStatus.SUCCEEDED, RunStatus.RUNNING),
        (RunStatus.CANCELLED, RunStatus.SUCCEEDED),
    ],
)
def test_a_finished_run_cannot_move_again(store: Store, first: RunStatus, then: RunStatus) -> None:
    env = store.catalog.environment("acme", "prod")
    run = store.runs.queue(environment_id=env, commit="b" * 40)
    lease = store.leases.acquire(NAME, holder="engine-a", ttl=TTL)
    assert lease is not None
    if first is RunStatus.SUCCEEDED:
        store.runs.move(run.id, RunStatus.RUNNING, lease=lease)
    store.runs.move(run.id, first, lease=lease)
    with pytest.raises(StateError, match="cannot move"):
        store.runs.move(run.id, then, lease=lease)
