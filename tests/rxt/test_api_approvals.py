"""Approving a plan through the tenant API queues a reconcile of the plan's environment in the
same transaction as the approval, on SQLite and PostgreSQL; replays, conflicts and another
tenant's plan queue nothing more."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from state.audit import LogFilter
from state.checkpoints import SigningKey
from state.database import Database
from state.models import PlanApproval, WorkItem, WorkStatus
from tests.rxt.tenant_api_world import Call, World, build_world, one, send
from tests.state.conftest import (  # noqa: F401 - fixtures shared with the state store's tests
    FakeClock,
    clock,
    database,
    key,
    postgres_url,
    sqlite_template,
)


@pytest.fixture
def world(database: Database, key: SigningKey, clock: FakeClock) -> World:  # noqa: F811
    return build_world(database, key=key, clock=clock)


def _items(world: World) -> list[tuple[int, str, str, WorkStatus, dict[str, object]]]:
    """Every queued work item: id, kind, key, status, payload."""
    query = select(WorkItem.id, WorkItem.kind, WorkItem.key, WorkItem.status, WorkItem.payload)
    with world.store.database.read() as session:
        return [tuple(row) for row in session.execute(query.order_by(WorkItem.id))]


def _approvals(world: World) -> list[str]:
    with world.store.database.read() as session:
        return list(session.scalars(select(PlanApproval.plan_id)))


def _approve(plan_id: str, token: str, *, reason: str = "CAB-42", once: str = "") -> Call:
    headers = {"Idempotency-Key": once} if once else {}
    return Call("POST", f"/api/v1/plans/{plan_id}/approvals", token, json={"reason": reason},
                headers=headers)  # fmt: skip


def test_an_approval_queues_a_reconcile_of_the_plans_environment_and_names_it(
    world: World,
) -> None:
    acme = world.tenants["acme"]

    answer = one(world.app, "POST", f"/api/v1/plans/{acme.plan_id}/approvals",
                 acme.tokens["admin"], json={"reason": "CAB-42"})  # fmt: skip

    assert answer.status_code == 201, answer.text
    payload = {"trigger": "approval", "plan_id": acme.plan_id,
               "requested_by": answer.json()["approvedBy"]}  # fmt: skip
    assert _items(world) == [
        (answer.json()["workItemId"], "reconcile", "acme/acme-ledger", WorkStatus.READY, payload)
    ]


def test_a_replayed_approval_answers_the_same_work_item_and_queues_no_other(world: World) -> None:
    acme = world.tenants["acme"]
    admin = acme.tokens["admin"]

    first, replay, other = send(world.app, [
        _approve(acme.plan_id, admin, once="approve-1"),
        _approve(acme.plan_id, admin, once="approve-1"),
        _approve(acme.plan_id, admin, once="approve-1", reason="another reason"),
    ])  # fmt: skip

    assert (first.status_code, replay.status_code, other.status_code) == (201, 201, 422)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["workItemId"] == first.json()["workItemId"]
    assert len(_items(world)) == 1


@pytest.mark.parametrize(
    "which", ["approved again", "needs no approval"], ids=["again", "nothing-held"]
)
def test_a_refused_approval_leaves_no_work_item_behind(world: World, which: str) -> None:
    acme = world.tenants["acme"]
    admin = acme.tokens["admin"]
    if which == "approved again":
        assert one(world.app, "POST", f"/api/v1/plans/{acme.plan_id}/approvals", admin,
                   json={"reason": "first"}).status_code == 201  # fmt: skip
    before = len(_items(world))
    plan = acme.plan_id if which == "approved again" else acme.plain_plan_id

    refused = send(world.app, [_approve(plan, admin)])[0]

    assert refused.status_code == 409
    assert len(_items(world)) == before


def test_approving_another_tenants_plan_is_a_404_and_queues_nothing(world: World) -> None:
    acme, beta = world.tenants["acme"], world.tenants["beta"]

    answer = send(world.app, [_approve(beta.plan_id, acme.tokens["admin"])])[0]

    assert answer.status_code == 404
    assert _items(world) == []
    assert _approvals(world) == []


def test_a_preview_plan_is_not_approvable_and_the_answer_says_which_to_approve(
    world: World,
) -> None:
    acme = world.tenants["acme"]
    held = {"changes": [{"name": "vm-preview", "needs_approval": True}]}
    world.store.catalog.save_plan(
        "preview-acme", environment_id=acme.environment_id, commit="ab" * 20, kind="preview",
        body=held, plan_hash="sha256:preview", fingerprint="preview",
    )  # fmt: skip

    refused = send(world.app, [_approve("preview-acme", acme.tokens["admin"])])[0]

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert "is a preview of commit abababababab" in problem["detail"]
    assert "kind apply" in problem["detail"]  # the hint, after the message
    assert _items(world) == []
    assert _approvals(world) == []


def _withdraw(plan_id: str, token: str, *, reason: str = "slipped", once: str = "") -> Call:
    headers = {"Idempotency-Key": once} if once else {}
    return Call("DELETE", f"/api/v1/plans/{plan_id}/approvals?reason={reason}", token,
                headers=headers)  # fmt: skip


def test_an_approval_withdrawn_is_audited_and_the_plan_can_be_approved_anew(
    world: World,
) -> None:
    acme = world.tenants["acme"]
    admin = acme.tokens["admin"]
    approved = send(world.app, [_approve(acme.plan_id, admin, reason="CAB-42")])[0]
    assert approved.status_code == 201, approved.text

    withdrawn, replay, plan, again = send(world.app, [
        _withdraw(acme.plan_id, admin, once="withdraw-1"),
        _withdraw(acme.plan_id, admin, once="withdraw-1"),
        Call("GET", f"/api/v1/plans/{acme.plan_id}", acme.tokens["viewer"]),
        _approve(acme.plan_id, admin, reason="CAB-43"),
    ])  # fmt: skip

    assert withdrawn.status_code == 200, withdrawn.text
    doc = withdrawn.json()
    assert (doc["planId"], doc["reason"], doc["withdrawReason"]) == (
        acme.plan_id,
        "CAB-42",
        "slipped",
    )
    assert doc["withdrawnBy"] == doc["approvedBy"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert plan.json()["approval"] is None
    assert again.status_code == 201, again.text
    assert _approvals(world) == [acme.plan_id]
    entries = world.store.audit.entries(LogFilter(tenant="acme", object=f"plan/{acme.plan_id}"))
    assert [e.fields.action for e in reversed(entries)] == [
        "plan.approved",
        "plan.approval_withdrawn",
        "plan.approved",
    ]


def test_withdrawing_needs_an_admin_and_an_approval(world: World) -> None:
    acme = world.tenants["acme"]
    viewer, deployer, admin = (acme.tokens[r] for r in ("viewer", "deployer", "admin"))
    send(world.app, [_approve(acme.plan_id, admin)])

    by_viewer, by_deployer, none_there = send(world.app, [
        _withdraw(acme.plan_id, viewer),
        _withdraw(acme.plan_id, deployer),
        _withdraw(acme.plain_plan_id, admin),
    ])  # fmt: skip

    assert (by_viewer.status_code, by_deployer.status_code) == (403, 403)
    assert none_there.status_code == 409
    assert "has no approval to withdraw" in none_there.json()["detail"]
    assert _approvals(world) == [acme.plan_id]
