"""Changing and deleting a registration through the tenant API, on SQLite and PostgreSQL: what
a PATCH may change and which checks it passes, what a DELETE keeps (history, audit) and drops
(references, the listing), roles, idempotency keys, and the engine's wake-up after each."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rxt.api.urls import UrlPolicy
from state.checkpoints import SigningKey
from state.database import Database
from state.registrations import registered_repositories
from state.verifying import verify_chains
from tests.rxt.tenant_api_world import (
    Call,
    World,
    build_world,
    environment_manifest,
    fake_resolver,
    one,
    send,
)
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


def _env(name: str, tenant: str = "acme", **sites: Any) -> dict[str, Any]:
    manifest = environment_manifest(tenant, name, **sites)
    return {"name": name, "path": f"environments/{name}", "manifest": manifest}


def _path(world: World, tenant: str = "acme") -> str:
    return f"/api/v1/repositories/{world.tenants[tenant].repository_id}"


def _patch(world: World, body: dict[str, Any], *, role: str = "deployer", **kw: Any) -> Any:
    return one(world.app, "PATCH", _path(world), world.tenants["acme"].tokens[role], json=body,
               **kw)  # fmt: skip


def _audit(world: World, tenant: str = "acme") -> list[dict[str, Any]]:
    token = world.tenants[tenant].tokens["viewer"]
    items: list[dict[str, Any]] = one(world.app, "GET", "/api/v1/audit", token).json()["items"]
    return items


def test_a_patch_changes_the_branch_refs_and_notify_url_and_is_audited(world: World) -> None:
    body = {"branch": "release", "webhookSecretRef": {"path": "hooks/rotated", "key": "s"},
            "credentialsRef": {"path": "git/acme", "key": "token"},
            "notifyUrl": "https://hooks.example.com/rxt"}  # fmt: skip
    answer = _patch(world, body)
    assert answer.status_code == 200, answer.text
    doc = one(world.app, "GET", _path(world), world.tenants["acme"].tokens["viewer"]).json()
    assert (doc["branch"], doc["webhookSecretRef"], doc["credentialsRef"], doc["notifyUrl"]) == (
        "release", {"path": "hooks/rotated", "key": "s"}, {"path": "git/acme", "key": "token"},
        "https://hooks.example.com/rxt",
    )  # fmt: skip
    entry = _audit(world)[0]
    assert entry["action"] == "repository.updated"
    assert entry["details"]["fields"] == ["branch", "webhookSecretRef", "credentialsRef",
                                          "notifyUrl"]  # fmt: skip
    [acme] = [r for r in registered_repositories(world.store.database) if r.tenant == "acme"]
    assert (acme.branch, acme.webhook_secret_ref.path) == ("release", "hooks/rotated")


def test_null_clears_the_credentials_and_notify_url_and_a_left_out_field_stays(
    world: World,
) -> None:
    _patch(world, {"credentialsRef": {"path": "git/acme", "key": "t"},
                   "notifyUrl": "https://hooks.example.com/x"})  # fmt: skip
    answer = _patch(world, {"credentialsRef": None, "notifyUrl": None})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["credentialsRef"], answer.json()["notifyUrl"]) == (None, None)
    assert answer.json()["branch"] == "main"


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({}, 422, "invalid-change"),
        ({"branch": None}, 422, "invalid-change"),
        ({"url": "https://git.example.com/acme/other.git"}, 422, "about:blank"),
        ({"notifyUrl": "http://metadata.example.com/x"}, 422, "url-refused"),
        ({"addEnvironments": [{**_env("web"), "path": "deploy/web"}]}, 422, "unsupported-path"),
        ({"addEnvironments": [{**_env("web"), "manifest": {"kind": "x"}}]}, 422,
         "invalid-manifest"),
        ({"addEnvironments": [_env("web", nsx={"site": "nsx-ord", "tier1": "acme-t1"})]}, 403,
         "outside-tenant"),
        ({"addEnvironments": [_env("acme-ledger")]}, 409, "conflict"),
        ({"removeEnvironments": ["acme-ledger"]}, 403, "forbidden"),
    ],
    ids=["empty", "null branch", "url", "private notify", "path", "manifest", "site not granted",
         "already there", "deployer removes"],
)  # fmt: skip
def test_a_patch_passes_the_registration_checks_and_changes_nothing_when_refused(
    world: World, body: dict[str, Any], status: int, kind: str
) -> None:
    before = one(world.app, "GET", _path(world), world.tenants["acme"].tokens["viewer"]).json()
    audit = len(_audit(world))
    answer = _patch(world, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"].endswith(kind)
    after = one(world.app, "GET", _path(world), world.tenants["acme"].tokens["viewer"]).json()
    assert (after, len(_audit(world))) == (before, audit)


def test_an_added_environment_is_listed_and_a_removed_one_keeps_its_history(
    world: World,
) -> None:
    acme = world.tenants["acme"]
    added = _patch(world, {"addEnvironments": [_env("web")]})
    assert added.status_code == 200, added.text
    assert sorted(e["name"] for e in added.json()["environments"]) == ["acme-ledger", "web"]
    removed = _patch(world, {"removeEnvironments": [acme.environment]}, role="admin")
    assert removed.status_code == 200, removed.text
    assert [e["name"] for e in removed.json()["environments"]] == ["web"]
    viewer = acme.tokens["viewer"]
    listed = one(world.app, "GET", "/api/v1/environments", viewer).json()["items"]
    assert [e["name"] for e in listed] == ["web"]
    gone = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}", viewer).json()
    assert gone["removedAt"] is not None
    plans = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/plans", viewer)
    assert len(plans.json()["items"]) == 2
    sync = one(world.app, "POST", f"/api/v1/environments/{acme.environment_id}/syncs",
               acme.tokens["deployer"])  # fmt: skip
    assert (sync.status_code, sync.json()["type"].endswith("/conflict")) == (409, True)
    approval = one(world.app, "POST", f"/api/v1/plans/{acme.plan_id}/approvals",
                   acme.tokens["admin"], json={"reason": "late"})  # fmt: skip
    assert approval.status_code == 409
    assert _audit(world)[0]["details"]["removed"] == [acme.environment]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"removeEnvironments": ["acme-ledger"]}, 422), ({"removeEnvironments": ["nope"]}, 422),
     ({"removeEnvironments": ["acme-ledger"], "addEnvironments": [_env("web")]}, 200)],
    ids=["none left", "unknown", "swapped"],
)  # fmt: skip
def test_a_patch_never_leaves_a_repository_without_an_environment(
    world: World, body: dict[str, Any], status: int
) -> None:
    assert _patch(world, body, role="admin").status_code == status


def test_a_delete_drops_the_registration_and_keeps_history_and_a_verifiable_audit_chain(
    world: World,
) -> None:
    acme = world.tenants["acme"]
    refused = one(world.app, "DELETE", _path(world), acme.tokens["deployer"])
    assert refused.status_code == 403
    gone = one(world.app, "DELETE", _path(world), acme.tokens["admin"])
    assert gone.status_code == 200, gone.text
    assert gone.json()["environments"] == [{"id": acme.environment_id, "name": acme.environment}]
    viewer = acme.tokens["viewer"]
    assert one(world.app, "GET", _path(world), viewer).status_code == 404
    assert one(world.app, "GET", "/api/v1/repositories", viewer).json() == {"items": []}
    assert one(world.app, "GET", "/api/v1/environments", viewer).json() == {"items": []}
    for path in (f"/api/v1/plans/{acme.plan_id}", f"/api/v1/runs/{acme.run_id}",
                 f"/api/v1/drift-reports/{acme.drift_id}"):  # fmt: skip
        assert one(world.app, "GET", path, viewer).status_code == 200, path
    assert [r.tenant for r in registered_repositories(world.store.database)] == ["beta"]
    assert _audit(world)[0]["action"] == "repository.deleted"
    reports = verify_chains(world.store.database, public_key=world.store.key.public)
    assert [(r.tenant, r.ok) for r in reports] == [("acme", True), ("beta", True)]
    assert one(world.app, "DELETE", _path(world), acme.tokens["admin"]).status_code == 404
    assert _patch(world, {"branch": "x"}).status_code == 404


def test_registering_a_deleted_repository_again_restores_its_environment_with_its_history(
    world: World,
) -> None:
    acme = world.tenants["acme"]
    one(world.app, "DELETE", _path(world), acme.tokens["admin"])
    url = f"https://git.example.com/acme/{acme.markers[1]}.git"
    body = {"url": url, "webhookSecretRef": {"path": "hooks/again", "key": "s"},
            "environments": [_env(acme.environment)]}  # fmt: skip
    again = one(world.app, "POST", "/api/v1/repositories", acme.tokens["deployer"], json=body)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == acme.repository_id
    assert again.json()["environments"][0]["id"] == acme.environment_id
    runs = one(world.app, "GET", f"/api/v1/environments/{acme.environment_id}/runs",
               acme.tokens["viewer"]).json()["items"]  # fmt: skip
    assert [run["id"] for run in runs] == [acme.run_id]


def test_an_idempotency_key_replays_a_patch_and_a_delete(world: World) -> None:
    acme = world.tenants["acme"]
    once = {"Idempotency-Key": "change-1"}
    patch = Call("PATCH", _path(world), acme.tokens["deployer"], json={"branch": "b"}, headers=once)
    other = Call("PATCH", _path(world), acme.tokens["deployer"], json={"branch": "c"}, headers=once)
    first, replay, mismatch = send(world.app, [patch, patch, other])
    assert (first.status_code, replay.status_code, mismatch.status_code) == (200, 200, 422)
    assert replay.headers["idempotent-replayed"] == "true"
    assert [e["action"] for e in _audit(world)].count("repository.updated") == 1
    delete = Call("DELETE", _path(world), acme.tokens["admin"], headers={"Idempotency-Key": "d"})
    gone, again = send(world.app, [delete, delete])
    assert (gone.status_code, again.status_code) == (200, 200)
    assert again.json() == gone.json()
    assert [e["action"] for e in _audit(world)].count("repository.deleted") == 1


def test_each_write_wakes_the_engines_refresher(world: World) -> None:
    woken: list[str] = []
    world.app.state.tenant_api = replace(world.api, registered=lambda: woken.append("x"))
    acme = world.tenants["acme"]
    _patch(world, {"branch": "b"})
    assert woken == ["x"]
    _patch(world, {"removeEnvironments": ["nope"]}, role="admin")  # refused: nothing to follow
    assert woken == ["x"]
    one(world.app, "DELETE", _path(world), acme.tokens["admin"])
    assert woken == ["x", "x"]


FORGE = {"provider": "gitlab", "apiUrl": "https://git.example.com/api/v4",
         "tokenRef": {"path": "forge/gitlab", "key": "token"}}  # fmt: skip


def _register(world: World, **changes: Any) -> Any:
    body = {"url": "https://git.example.com/acme/web.git",
            "webhookSecretRef": {"path": "hooks/web", "key": "s"},
            "environments": [_env("web")], **changes}  # fmt: skip
    return one(world.app, "POST", "/api/v1/repositories", world.tenants["acme"].tokens["deployer"],
               json=body)  # fmt: skip


def test_a_registration_names_its_own_forge_by_reference_and_the_engine_reads_it(
    world: World,
) -> None:
    answer = _register(world, forge=FORGE)
    assert answer.status_code == 201, answer.text
    assert answer.json()["forge"] == FORGE
    entry = _audit(world)[0]
    assert (entry["action"], entry["details"]["forge"]) == ("repository.registered", FORGE)
    [web] = [r for r in registered_repositories(world.store.database) if r.url.endswith("web.git")]
    assert web.forge is not None
    assert (web.forge.provider, web.forge.api_url) == ("gitlab", "https://git.example.com/api/v4")
    assert (web.forge.token_ref.path, web.forge.token_ref.key) == ("forge/gitlab", "token")


@pytest.mark.parametrize(
    ("forge", "kind"),
    [
        ({**FORGE, "token": "glpat-a-token-value"}, "about:blank"),
        ({**FORGE, "tokenRef": "glpat-a-token-value"}, "about:blank"),
        ({k: v for k, v in FORGE.items() if k != "tokenRef"}, "about:blank"),
        ({**FORGE, "provider": "bitbucket"}, "about:blank"),
        ({**FORGE, "tokenRef": {"path": "../beta/forge", "key": "token"}}, "about:blank"),
        ({**FORGE, "apiUrl": "http://10.0.0.5/api/v4"}, "url-refused"),
        ({**FORGE, "apiUrl": "http://metadata.example.com/"}, "url-refused"),
        ({**FORGE, "apiUrl": "http://127.0.0.1:8080/api/v4"}, "url-refused"),
    ],
    ids=["token value", "ref as a value", "no ref", "provider", "climbing ref", "private api",
         "link-local api", "loopback api"],
)  # fmt: skip
def test_a_forge_with_a_token_value_or_a_private_api_url_is_refused_on_post_and_patch(
    world: World, forge: dict[str, Any], kind: str
) -> None:
    before = one(world.app, "GET", _path(world), world.tenants["acme"].tokens["viewer"]).json()
    for answer in (_register(world, forge=forge), _patch(world, {"forge": forge})):
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["type"].endswith(kind)
        assert "glpat-a-token-value" not in answer.text  # a refused value is never echoed
    after = one(world.app, "GET", _path(world), world.tenants["acme"].tokens["viewer"]).json()
    assert after == before
    assert len(registered_repositories(world.store.database)) == 2


def test_a_patch_sets_and_clears_the_forge_and_a_left_out_forge_stays(world: World) -> None:
    assert _patch(world, {"forge": FORGE}).json()["forge"] == FORGE
    assert _audit(world)[0]["details"]["fields"] == ["forge"]
    assert _patch(world, {"branch": "b"}).json()["forge"] == FORGE
    cleared = _patch(world, {"forge": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["forge"] is None
    assert _audit(world)[0]["details"]["fields"] == ["forge"]
    [acme] = [r for r in registered_repositories(world.store.database) if r.tenant == "acme"]
    assert acme.forge is None


def test_the_operator_may_allow_a_forge_on_a_private_host(
    database: Database,  # noqa: F811
    key: SigningKey,  # noqa: F811
    clock: FakeClock,  # noqa: F811
) -> None:
    urls = UrlPolicy.of(allowed_hosts=["10.0.0.5"], resolver=fake_resolver)
    world = build_world(database, key=key, clock=clock, urls=urls)
    forge = {**FORGE, "apiUrl": "http://10.0.0.5/api/v4"}
    assert _register(world, forge=forge).status_code == 201
