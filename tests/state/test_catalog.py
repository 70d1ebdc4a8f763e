"""Tenants, environments, revisions, plans, drift reports, webhook deliveries and the outbox."""

from __future__ import annotations

import uuid

import pytest

from core.logs import register_secret
from state.models import DriftStatus
from state.store import Store
from tests.state.conftest import FakeClock


def test_registering_an_environment_twice_gives_the_same_id(store: Store) -> None:
    first = store.catalog.environment("acme", "prod", repository="https://git.example/acme")
    again = store.catalog.environment("acme", "prod", repository="https://git.example/acme")
    other = store.catalog.environment("globex", "prod")
    assert first == again != other


def test_a_revision_is_new_only_the_first_time_it_is_seen(store: Store) -> None:
    env = store.catalog.environment("acme", "prod")
    assert store.catalog.saw_revision(env, "a" * 40)
    assert not store.catalog.saw_revision(env, "a" * 40)
    assert store.catalog.saw_revision(env, "b" * 40)


def test_a_plan_is_stored_with_its_json_hash_and_fingerprint(store: Store) -> None:
    env = store.catalog.environment("acme", "prod")
    body = {"changes": [{"action": "create", "ref": "vm"}], "summary": {"create": 1}}
    store.catalog.save_plan(
        "plan-1",
        environment_id=env,
        commit="c" * 40,
        kind="apply",
        body=body,
        plan_hash="sha256:1",
        fingerprint="sha256:2",
    )
    plan = store.catalog.plan("plan-1")
    assert plan is not None
    assert (plan.body, plan.plan_hash, plan.fingerprint) == (body, "sha256:1", "sha256:2")
    assert store.catalog.plan("missing") is None


@pytest.mark.parametrize("status", [DriftStatus.DRIFTED, DriftStatus.ERROR, DriftStatus.DISABLED])
def test_the_latest_drift_report_gives_the_environment_its_status(
    store: Store, clock: FakeClock, status: DriftStatus
) -> None:
    env = store.catalog.environment("acme", "prod")
    assert store.catalog.latest_drift(env) is DriftStatus.NEVER_RUN
    store.catalog.report_drift(env, DriftStatus.OK)
    clock.advance(60)
    diffs = [{"resource": "vm", "path": "spec.cpus", "before": 2, "after": 4}]
    store.catalog.report_drift(env, status, diffs=diffs)
    assert store.catalog.latest_drift(env) is status


def test_a_replayed_webhook_delivery_is_recognised(store: Store) -> None:
    assert store.catalog.first_delivery("github", "d-1", body_digest="sha256:x")
    assert not store.catalog.first_delivery("github", "d-1", body_digest="sha256:x")
    assert store.catalog.first_delivery("gitlab", "d-1", body_digest="sha256:x")


def test_outbox_events_wait_until_the_relay_marks_them_sent(store: Store) -> None:
    first = store.outbox.publish("rxt.plan.applied", subject="acme/prod", data={"plan": "p1"})
    store.outbox.publish("rxt.drift.detected", subject="acme/prod", data={"count": 2})
    pending = store.outbox.unsent()
    assert [event.event_id for event in pending][:1] == [first]
    assert [event.type for event in pending] == ["rxt.plan.applied", "rxt.drift.detected"]
    store.outbox.mark_sent([pending[0].id])
    assert [event.type for event in store.outbox.unsent()] == ["rxt.drift.detected"]


def test_outbox_events_never_carry_a_known_secret(store: Store) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    register_secret(canary)
    store.outbox.publish(
        "rxt.apply.failed", subject="acme/prod", data={"error": f"auth {canary}", "token": "t"}
    )
    [event] = store.outbox.unsent()
    assert event.data == {"error": "auth [redacted]", "token": "[redacted]"}
