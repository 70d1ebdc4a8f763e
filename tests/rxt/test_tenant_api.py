"""The tenant API over ASGI on SQLite and PostgreSQL: registration, reads with cursors, roles,
triggers on the work queue, approvals in the audit chain, idempotency keys, problem details."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from core.hashing import canonical_json
from rxt.api.access import TenantServices, print_operator_token
from rxt.api.serving import running_in_thread
from state.access import Replay
from state.checkpoints import SigningKey
from state.database import Database
from state.models import WorkItem
from state.store import build_store
from tests.conftest import free_port
from tests.rxt.tenant_api_world import Call, World, build_world, environment_manifest, one, send
from tests.state.conftest import (  # noqa: F401 - fixtures shared with the state store's tests
    FakeClock,
    clock,
    database,
    key,
    postgres_url,
    sqlite_template,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def world(database: Database, key: SigningKey, clock: FakeClock) -> World:  # noqa: F811
    return build_world(database, key=key, clock=clock)


def _registration(name: str = "web", **extra: Any) -> dict[str, Any]:
    return {
        "url": "https://git.example.com/acme/web.git",
        "branch": "main",
        "webhookSecretRef": {"path": "hooks/web", "key": "github"},
        "credentialsRef": {"path": "git/web", "key": "token"},
        "environments": [
            {"name": name, "path": f"environments/{name}",
             "manifest": environment_manifest("acme", name)},
        ],
        **extra,
    }  # fmt: skip


def test_a_deployer_registers_a_repository_and_sees_its_environment_listed(world: World) -> None:
    acme = world.tenants["acme"]
    made = one(world.app, "POST", "/api/v1/repositories", acme.tokens["deployer"],
               json=_registration())  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["webhookSecretRef"] == {"path": "hooks/web", "key": "github"}
    listed = one(world.app, "GET", "/api/v1/environments", acme.tokens["viewer"]).json()["items"]
    web = next(env for env in listed if env["name"] == "web")
    assert web["sync"]["status"] == "Unknown"
    assert web["drift"]["status"] == "never_run"
    seeded = next(env for env in listed if env["name"] == acme.environment)
    assert (seeded["sync"]["status"], seeded["drift"]["status"]) == ("OutOfSync", "drifted")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"webhookSecretRef": {"path": "hooks/web", "key": "k", "value": "hunter2"}}, 422),
        ({"webhookSecret": "hunter2"}, 422),
        ({"environments": []}, 422),
        ({"branch": "main; rm -rf"}, 422),
    ],
    ids=["a secret value beside the ref", "a secret value instead", "no environment", "bad branch"],
)
def test_registrations_carry_references_never_secret_values(
    world: World, change: dict[str, Any], status: int
) -> None:
    body = {**_registration(), **change}
    answer = one(world.app, "POST", "/api/v1/repositories", world.tenants["acme"].tokens["admin"],
                 json=body)  # fmt: skip
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert "hunter2" not in answer.text


def test_registering_the_same_repository_twice_is_a_conflict(world: World) -> None:
    token = world.tenants["acme"].tokens["deployer"]
    calls = [Call("POST", "/api/v1/repositories", token, json=_registration())] * 2
    first, second = send(world.app, calls)
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["type"].endswith("/conflict")


ROLES = [
    ("GET", "/api/v1/environments", None, {"viewer": 200, "deployer": 200, "admin": 200}),
    ("POST", "/api/v1/environments/{env}/syncs", {},
     {"viewer": 403, "deployer": 202, "admin": 202}),
    ("POST", "/api/v1/environments/{env}/drift-checks", {},
     {"viewer": 403, "deployer": 202, "admin": 202}),
    ("POST", "/api/v1/plans/{plan}/approvals", {"reason": "ok"},
     {"viewer": 403, "deployer": 403, "admin": 201}),
    ("GET", "/api/v1/tokens", None, {"viewer": 403, "deployer": 403, "admin": 200}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "expected"), ROLES)
def test_each_role_may_do_what_it_is_for_and_no_more(
    world: World, method: str, path: str, body: Any, expected: dict[str, int]
) -> None:
    acme = world.tenants["acme"]
    url = path.format(env=acme.environment_id, plan=acme.plan_id)
    for role, status in expected.items():
        answer = one(world.app, method, url, acme.tokens[role], json=body)
        assert answer.status_code == status, (role, answer.text)
        if status >= 400:
            assert answer.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer rxt_unknown", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "rxt_no_scheme"],
)
def test_a_request_without_a_valid_token_is_401_problem_details(
    world: World, authorization: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = one(world.app, "GET", "/api/v1/environments", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"].endswith("/unauthenticated")


def test_the_operator_token_manages_tenants_but_reads_no_tenant_data(world: World) -> None:
    granted = one(world.app, "PUT", "/api/v1/tenants/gamma/sites", world.operator,
                  json={"sites": ["spot-dfw"]})  # fmt: skip
    assert granted.json() == {"tenant": "gamma", "sites": ["spot-dfw"]}
    made = one(world.app, "POST", "/api/v1/tenants/gamma/tokens", world.operator,
               json={"name": "first admin", "role": "admin"})  # fmt: skip
    assert made.status_code == 201
    gamma = made.json()["token"]
    assert one(world.app, "GET", "/api/v1/environments", gamma).json() == {"items": []}
    assert one(world.app, "GET", "/api/v1/environments", world.operator).status_code == 403
    refused = one(world.app, "PUT", "/api/v1/tenants/acme/sites", gamma, json={"sites": []})
    assert refused.status_code == 403


def test_a_tenant_admin_makes_lists_and_revokes_tokens_whose_secret_is_shown_once(
    world: World,
) -> None:
    admin = world.tenants["acme"].tokens["admin"]
    made = one(world.app, "POST", "/api/v1/tokens", admin, json={"name": "ci", "role": "viewer"})
    secret, token_id = made.json()["token"], made.json()["id"]
    listed = one(world.app, "GET", "/api/v1/tokens", admin)
    assert secret not in listed.text
    assert one(world.app, "GET", "/api/v1/environments", secret).status_code == 200
    assert one(world.app, "DELETE", f"/api/v1/tokens/{token_id}", admin).status_code == 204
    assert one(world.app, "GET", "/api/v1/environments", secret).status_code == 401


@pytest.mark.parametrize(("path", "kind"), [("syncs", "reconcile"), ("drift-checks", "drift")])
def test_a_trigger_enqueues_work_for_the_environment_and_is_audited(
    world: World, path: str, kind: str
) -> None:
    acme = world.tenants["acme"]
    answer = one(world.app, "POST", f"/api/v1/environments/{acme.environment_id}/{path}",
                 acme.tokens["deployer"], json={"reason": "hotfix"})  # fmt: skip
    assert answer.status_code == 202
    with world.store.database.read() as session:
        item = session.get(WorkItem, answer.json()["workItemId"])
        assert item is not None
        assert (item.kind, item.key) == (kind, f"acme/{acme.environment}")
    audit = one(world.app, "GET", "/api/v1/audit", acme.tokens["viewer"]).json()["items"][0]
    assert audit["action"].endswith("requested")
    assert audit["details"]["reason"] == "hotfix"


def test_an_approval_names_who_and_why_in_the_plan_and_the_audit_log(world: World) -> None:
    acme = world.tenants["acme"]
    plan = f"/api/v1/plans/{acme.plan_id}"
    before = one(world.app, "GET", plan, acme.tokens["viewer"]).json()
    assert (before["needsApproval"], before["approval"]) == (True, None)
    approve = Call("POST", f"{plan}/approvals", acme.tokens["admin"], json={"reason": "CAB-42"})
    first, again = send(world.app, [approve, approve])
    assert (first.status_code, again.status_code) == (201, 409)
    after = one(world.app, "GET", plan, acme.tokens["viewer"]).json()["approval"]
    assert after["reason"] == "CAB-42"
    assert after["approvedBy"].endswith("acme-ADMIN")
    entry = one(world.app, "GET", "/api/v1/audit", acme.tokens["viewer"]).json()["items"][0]
    assert (entry["action"], entry["planId"], entry["details"]) == (
        "plan.approved", acme.plan_id, {"reason": "CAB-42"},
    )  # fmt: skip
    plain = one(world.app, "POST", f"/api/v1/plans/{acme.plain_plan_id}/approvals",
                acme.tokens["admin"], json={"reason": "x"})  # fmt: skip
    assert plain.status_code == 409


def test_listings_page_through_every_item_once_by_cursor(world: World) -> None:
    acme = world.tenants["acme"]
    for _ in range(4):
        world.store.runs.queue(environment_id=acme.environment_id, commit="f" * 40)
    seen: list[int] = []
    cursor = ""
    for _ in range(10):
        page = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/runs"
                   f"?limit=2&cursor={cursor}", acme.tokens["viewer"]).json()  # fmt: skip
        seen += [run["id"] for run in page["items"]]
        cursor = page["nextCursor"] or ""
        if not cursor:
            break
    assert len(seen) == 5
    assert seen == sorted(set(seen), reverse=True)
    plans = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/plans?limit=1",
                acme.tokens["viewer"]).json()  # fmt: skip
    rest = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/plans?limit=1"
               f"&cursor={plans['nextCursor']}", acme.tokens["viewer"]).json()  # fmt: skip
    assert {plans["items"][0]["id"], rest["items"][0]["id"]} == {acme.plan_id, acme.plain_plan_id}
    assert rest["nextCursor"] is None


@pytest.mark.parametrize("cursor", ["not-base64!", "bnVsbA", "WyJ4Il0", "e30"])
def test_a_cursor_the_api_did_not_make_is_a_400_problem(world: World, cursor: str) -> None:
    acme = world.tenants["acme"]
    answer = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/runs"
                 f"?cursor={cursor}", acme.tokens["viewer"])  # fmt: skip
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM


def test_an_idempotency_key_replays_the_stored_answer_and_refuses_another_body(
    world: World,
) -> None:
    token = world.tenants["acme"].tokens["deployer"]
    once = {"Idempotency-Key": "register-web-1"}
    first, replay, other = send(world.app, [
        Call("POST", "/api/v1/repositories", token, json=_registration(), headers=once),
        Call("POST", "/api/v1/repositories", token, json=_registration(), headers=once),
        Call("POST", "/api/v1/repositories", token, json=_registration("api"), headers=once),
    ])  # fmt: skip
    assert (first.status_code, replay.status_code, other.status_code) == (201, 201, 422)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert other.headers["content-type"] == PROBLEM
    assert len(one(world.app, "GET", "/api/v1/repositories", token).json()["items"]) == 2


def test_a_key_still_in_flight_answers_409(world: World) -> None:
    acme = world.tenants["acme"]
    path = f"/api/v1/environments/{acme.environment_id}/syncs"
    # What the first request claims on arrival, before it has answered.
    scope = f"tenant:{acme.tenant_id}"
    begun = world.api.idempotency.begin(scope, "k", fingerprint=_fingerprint(world, path))
    assert begun.outcome is Replay.NEW
    answer = one(world.app, "POST", path, acme.tokens["deployer"], headers={"Idempotency-Key": "k"})
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/idempotency-key-in-flight")


def _fingerprint(world: World, path: str) -> str:
    env_id = int(path.split("/")[4])
    body = {"id": env_id, "reason": ""}
    seen = {"method": "POST", "path": path, "body": body}
    return hashlib.sha256(canonical_json(seen)).hexdigest()


def test_a_failed_write_releases_its_key_for_a_retry(world: World) -> None:
    acme = world.tenants["acme"]
    missing = one(world.app, "POST", "/api/v1/environments/999999/syncs", acme.tokens["deployer"],
                  headers={"Idempotency-Key": "retry-me"})  # fmt: skip
    assert missing.status_code == 404
    path = "/api/v1/environments/999999/syncs"
    assert (
        world.api.idempotency.begin(
            f"tenant:{acme.tenant_id}", "retry-me", fingerprint=_fingerprint(world, path)
        ).outcome
        is Replay.NEW
    )


def test_the_openapi_document_lists_the_tenant_api(world: World) -> None:
    paths = one(world.app, "GET", "/openapi.json").json()["paths"]
    wanted = ["/api/v1/repositories", "/api/v1/environments/{environment_id}/syncs",
              "/api/v1/plans/{plan_id}/approvals", "/api/v1/audit", "/api/v1/tokens"]  # fmt: skip
    assert [path for path in wanted if path not in paths] == []
    assert one(world.app, "GET", "/docs").status_code == 200


def test_on_a_fresh_store_the_operator_token_is_printed_and_works(
    database: Database,  # noqa: F811
    key: SigningKey,  # noqa: F811
    clock: FakeClock,  # noqa: F811
) -> None:
    store = build_store(database, key=key, clock=clock)
    printed: list[str] = []
    assert print_operator_token(store, printed.append)
    assert not print_operator_token(store, printed.append)
    assert len(printed) == 1
    secret = next(word for word in printed[0].split() if word.startswith("rxt_"))
    assert TenantServices.of(store).tokens.authenticate(secret) is not None


def test_over_a_real_socket_the_api_answers_as_over_asgi(world: World) -> None:
    acme = world.tenants["acme"]
    headers = {"Authorization": f"Bearer {acme.tokens['viewer']}"}
    with (
        running_in_thread(world.app, port=free_port()) as base,
        httpx.Client(base_url=base, headers=headers, timeout=5, trust_env=False) as client,
    ):
        listed = client.get("/api/v1/environments")
        refused = client.post(f"/api/v1/environments/{acme.environment_id}/syncs")
    assert listed.status_code == 200
    assert listed.json()["items"][0]["name"] == acme.environment
    assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)
