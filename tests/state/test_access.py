"""API tokens, idempotency keys, site grants, the tenant scope check, and plan approvals, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import StateError
from state.access import (
    Grants,
    Idempotency,
    Replay,
    Role,
    Tokens,
    scope_violations,
)
from state.audit import LogFilter
from state.database import Database
from state.models import ApiToken
from state.store import Store
from state.tenancy import Conflict, Registration, Tenancy
from tests.state.conftest import FakeClock


def test_a_token_is_stored_only_as_its_sha256_and_authenticates_to_its_tenant_and_role(
    database: Database, clock: FakeClock
) -> None:
    tokens = Tokens(database, clock=clock)
    issued = tokens.issue("acme", role=Role.DEPLOYER, name="ci")
    with database.read() as session:
        stored = session.scalars(select(ApiToken.token_hash)).one()
    assert stored == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in stored
    principal = tokens.authenticate(issued.secret)
    assert principal is not None
    assert (principal.tenant, principal.role, principal.name) == ("acme", Role.DEPLOYER, "ci")


@pytest.mark.parametrize("presented", ["", "rxt_", "rxt_wrong", "Bearer x", "not-a-token"])
def test_unknown_tokens_authenticate_to_nobody(
    database: Database, clock: FakeClock, presented: str
) -> None:
    Tokens(database, clock=clock).issue("acme", role=Role.ADMIN, name="a")
    assert Tokens(database, clock=clock).authenticate(presented) is None


def test_a_revoked_token_stops_working_and_another_tenant_cannot_revoke_it(
    database: Database, clock: FakeClock
) -> None:
    tokens = Tokens(database, clock=clock)
    acme = tokens.issue("acme", role=Role.VIEWER, name="v")
    beta = tokens.issue("beta", role=Role.ADMIN, name="b")
    assert beta.principal.tenant_id is not None
    assert acme.principal.tenant_id is not None
    assert not tokens.revoke(acme.principal.token_id, tenant_id=beta.principal.tenant_id)
    assert tokens.authenticate(acme.secret) is not None
    assert tokens.revoke(acme.principal.token_id, tenant_id=acme.principal.tenant_id)
    assert tokens.authenticate(acme.secret) is None


def test_the_operator_token_is_made_once_and_bound_to_no_tenant(
    database: Database, clock: FakeClock
) -> None:
    tokens = Tokens(database, clock=clock)
    first = tokens.ensure_operator()
    assert first is not None
    assert tokens.ensure_operator() is None
    principal = tokens.authenticate(first.secret)
    assert principal is not None
    assert (principal.tenant, principal.tenant_id, principal.role) == ("", None, Role.OPERATOR)


@pytest.mark.parametrize(("tenant", "role"), [("", Role.ADMIN), ("acme", Role.OPERATOR)])
def test_only_the_operator_token_has_no_tenant(
    database: Database, clock: FakeClock, tenant: str, role: Role
) -> None:
    with pytest.raises(StateError, match="only the operator"):
        Tokens(database, clock=clock).issue(tenant, role=role, name="x")


def test_an_idempotency_key_replays_refuses_another_body_and_reports_one_in_flight(
    database: Database, clock: FakeClock
) -> None:
    keys = Idempotency(database, clock=clock)
    assert keys.begin("t:1", "k", fingerprint="a").outcome is Replay.NEW
    assert keys.begin("t:1", "k", fingerprint="a").outcome is Replay.IN_FLIGHT
    assert keys.begin("t:1", "k", fingerprint="b").outcome is Replay.MISMATCH
    keys.finish("t:1", "k", status_code=201, response={"id": 7})
    stored = keys.begin("t:1", "k", fingerprint="a")
    assert (stored.outcome, stored.status_code, stored.response) == (Replay.STORED, 201, {"id": 7})
    assert keys.begin("t:2", "k", fingerprint="b").outcome is Replay.NEW


def test_an_abandoned_or_expired_key_may_be_used_again(
    database: Database, clock: FakeClock
) -> None:
    keys = Idempotency(database, clock=clock, ttl=dt.timedelta(hours=1))
    keys.begin("t", "failed", fingerprint="a")
    keys.abandon("t", "failed")
    assert keys.begin("t", "failed", fingerprint="b").outcome is Replay.NEW
    keys.begin("t", "old", fingerprint="a")
    keys.finish("t", "old", status_code=202, response={})
    clock.advance(3601)
    assert keys.begin("t", "old", fingerprint="b").outcome is Replay.NEW


def test_granting_sites_sets_exactly_the_given_ones(database: Database, clock: FakeClock) -> None:
    grants = Grants(database, clock=clock)
    grants.grant("acme", ["a", "b"])
    assert grants.grant("acme", ["b", "c", "c"]) == ["b", "c"]
    tenant_id = Tokens(database, clock=clock).issue("acme", role=Role.VIEWER, name="v")
    assert tenant_id.principal.tenant_id is not None
    assert grants.sites(tenant_id.principal.tenant_id) == {"b", "c"}


def _env(tenant: str = "acme", **sites: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "vsphere": {"site": "dc", "folder": "acme-prod"},
        "nsx": {"site": "nsx", "tier1": "acme-t1"},
        "kubernetes": {"site": "k8s", "namespace": "acme-prod"},
    }
    base.update(sites)
    return {"metadata": {"name": "prod", "tenant": tenant}, "spec": {"sites": base}}


SCOPES: list[tuple[str, dict[str, Any], str]] = [
    ("its own", _env(), ""),
    ("a nested own folder", _env(vsphere={"site": "dc", "folder": "acme/prod/web"}), ""),
    ("another tenant's name", _env("beta"), "metadata.tenant"),
    ("a site not granted", _env(kubernetes={"site": "k8s-beta", "namespace": "acme-x"}), "site"),
    ("another tenant's folder", _env(vsphere={"site": "dc", "folder": "beta-prod"}), "folder"),
    ("a folder climbing out", _env(vsphere={"site": "dc", "folder": "acme-x/../beta"}), "folder"),
    ("another tenant's tier-1", _env(nsx={"site": "nsx", "tier1": "beta-t1"}), "tier1"),
    ("a prefix look-alike", _env(nsx={"site": "nsx", "tier1": "acmebeta-t1"}), "tier1"),
    ("another namespace", _env(kubernetes={"site": "k8s", "namespace": "beta-prod"}), "namespace"),
]


@pytest.mark.parametrize(("case", "document", "named"), SCOPES, ids=[s[0] for s in SCOPES])
def test_an_environment_outside_its_tenant_is_named_by_the_field_that_leaves_it(
    case: str, document: dict[str, Any], named: str
) -> None:
    found = scope_violations("acme", document, sites=frozenset({"dc", "nsx", "k8s"}))
    if named:
        assert any(named in violation for violation in found), found
    else:
        assert found == []


def _plan(store: Store, env_id: int, plan_id: str, *, held: bool) -> None:
    store.catalog.save_plan(
        plan_id, environment_id=env_id, commit="c" * 40, kind="apply",
        body={"changes": [{"needs_approval": held}]}, plan_hash="h", fingerprint="f",
    )  # fmt: skip


def test_an_approval_is_recorded_with_who_and_why_in_the_audit_chain_once(store: Store) -> None:
    tenancy = Tenancy(store.database, audit=store.audit, clock=store.catalog.clock)
    tenant_id = Tokens(store.database).issue("acme", role=Role.ADMIN, name="a").principal.tenant_id
    assert tenant_id is not None
    registered = tenancy.register(
        tenant_id, Registration("https://git.example.com/a.git", "main", {"path": "p", "key": "k"},
                                environments={"prod": "environments/prod"}),
        tenant="acme", actor="token:1:a",
    )  # fmt: skip
    env_id = registered["environments"][0]["id"]
    _plan(store, env_id, "held", held=True)
    _plan(store, env_id, "plain", held=False)
    approval = tenancy.approve(tenant_id, "held", tenant="acme", actor="alice", reason="window")
    assert approval is not None
    assert approval["approvedBy"] == "alice"
    entry = store.audit.entries(LogFilter(tenant="acme"))[0]
    assert (entry.fields.action, entry.fields.actor, entry.fields.plan_id) == (
        "plan.approved", "alice", "held",
    )  # fmt: skip
    assert "window" in entry.fields.details
    with pytest.raises(Conflict, match="already approved"):
        tenancy.approve(tenant_id, "held", tenant="acme", actor="bob", reason="again")
    with pytest.raises(Conflict, match="needs no approval"):
        tenancy.approve(tenant_id, "plain", tenant="acme", actor="alice", reason="x")
    assert tenancy.approve(tenant_id + 1000, "held", tenant="beta", actor="x", reason="y") is None


def test_of_requests_racing_on_one_key_exactly_one_claims_it(
    database: Database, clock: FakeClock
) -> None:
    keys = Idempotency(database, clock=clock)
    barrier = threading.Barrier(6)

    def race(_: int) -> Replay:
        barrier.wait()
        return keys.begin("t", "same", fingerprint="f").outcome

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(race, range(6)))
    assert sorted(outcomes) == [Replay.NEW] + [Replay.IN_FLIGHT] * 5
