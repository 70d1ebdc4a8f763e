"""Bar R10: every tenant API endpoint, called by each role of one tenant with the ids of another
tenant's objects, and registrations and registration changes whose manifests aim at the other
tenant's Vault mount (secret and forge token references), sites, folder, tier-1 gateway (its
segments) or namespace, or whose forge API is a private address: 0 reads and 0 writes across
tenants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from state.checkpoints import SigningKey
from state.database import Database
from state.models import (
    ApiToken,
    AuditEntry,
    Environment,
    PlanApproval,
    Repository,
    RepositoryRegistration,
    SiteGrant,
    WorkItem,
)
from tests.rxt.tenant_api_world import Call, Seeded, World, build_world, environment_manifest, send
from tests.state.conftest import (  # noqa: F401 - fixtures shared with the state store's tests
    FakeClock,
    clock,
    database,
    key,
    postgres_url,
    sqlite_template,
)

ROLES = ("viewer", "deployer", "admin")


@pytest.fixture
def world(database: Database, key: SigningKey, clock: FakeClock) -> World:  # noqa: F811
    return build_world(database, key=key, clock=clock)


@dataclass(frozen=True)
class Route:
    """One endpoint and how to aim it at the other tenant's objects."""

    method: str
    path: str
    body: Any = None


# Every /api/v1 route; the test below fails if a route is added without a row here.
ROUTES = [
    Route("GET", "/api/v1/repositories"),
    Route("GET", "/api/v1/repositories/{repository_id}"),
    Route("POST", "/api/v1/repositories"),
    Route(
        "PATCH",
        "/api/v1/repositories/{repository_id}",
        {
            "branch": "r10",
            "webhookSecretRef": {"path": "hooks/r10", "key": "k"},
            "credentialsRef": None,
            "notifyUrl": "https://hooks.example.com/r10",
            "forge": {"provider": "github", "tokenRef": {"path": "forge/r10", "key": "k"}},
            "addEnvironments": [
                {
                    "name": "r10",
                    "path": "environments/r10",
                    "manifest": environment_manifest("acme", "r10"),
                }
            ],
        },
    ),
    Route("PATCH", "/api/v1/repositories/{repository_id}", {"removeEnvironments": ["beta-ledger"]}),
    Route("DELETE", "/api/v1/repositories/{repository_id}"),
    Route("GET", "/api/v1/environments"),
    Route("GET", "/api/v1/environments/{environment_id}"),
    Route("GET", "/api/v1/environments/{environment_id}/plans"),
    Route("GET", "/api/v1/environments/{environment_id}/runs"),
    Route("GET", "/api/v1/environments/{environment_id}/drift-reports"),
    Route("POST", "/api/v1/environments/{environment_id}/syncs", {"reason": "r10"}),
    Route("POST", "/api/v1/environments/{environment_id}/drift-checks", {"reason": "r10"}),
    Route("GET", "/api/v1/plans/{plan_id}"),
    Route("POST", "/api/v1/plans/{plan_id}/approvals", {"reason": "r10"}),
    Route("DELETE", "/api/v1/plans/{plan_id}/approvals"),
    Route("GET", "/api/v1/runs/{run_id}"),
    Route("GET", "/api/v1/drift-reports/{report_id}"),
    Route("GET", "/api/v1/audit"),
    Route("GET", "/api/v1/tokens"),
    Route("POST", "/api/v1/tokens", {"name": "r10", "role": "admin"}),
    Route("DELETE", "/api/v1/tokens/{token_id}"),
    Route("PUT", "/api/v1/tenants/{tenant}/sites", {"sites": ["sddc-ord"]}),
    Route("POST", "/api/v1/tenants/{tenant}/tokens", {"name": "r10", "role": "admin"}),
]


def _spellings(value: int | str) -> list[str]:
    """The other tenant's id as written, and the ways a parser might read it the same."""
    if isinstance(value, int):
        return [str(value), f"0{value}", f"{value:03d}"]
    return [value, value.replace("-", "%2D"), value.upper()]


def _targets(route: Route, beta: Seeded) -> list[str]:
    ids: dict[str, list[int | str]] = {
        "repository_id": [beta.repository_id],
        "environment_id": [beta.environment_id],
        "plan_id": [beta.plan_id, beta.plain_plan_id],
        "run_id": [beta.run_id],
        "report_id": [beta.drift_id],
        "token_id": list(beta.token_ids.values()),
        "tenant": [beta.tenant],
    }
    for name, values in ids.items():
        if "{" + name + "}" in route.path:
            return [route.path.replace("{" + name + "}", s) for v in values for s in _spellings(v)]
    return [route.path]


def _aimed_manifests() -> list[dict[str, Any]]:
    """Environment manifests of acme that reach into beta's tenant."""
    shared = {"site": "sddc-dfw", "datacenter": "DC0", "cluster": "DC0_C0",
              "network": "VM Network", "template": "t"}  # fmt: skip
    return [
        {**environment_manifest("acme", "web"), "metadata": {"name": "web", "tenant": "beta"}},
        environment_manifest("acme", "web", vsphere={**shared, "site": "sddc-ord",
                                                     "folder": "acme-web"}),
        environment_manifest("acme", "web", nsx={"site": "nsx-ord", "tier1": "acme-t1"}),
        environment_manifest("acme", "web", kubernetes={"site": "spot-ord", "namespace": "acme-w"}),
        environment_manifest("acme", "web", vsphere={**shared, "folder": "beta-ledger"}),
        environment_manifest("acme", "web", vsphere={**shared, "folder": "acme-x/../beta-ledger"}),
        environment_manifest("acme", "web", vsphere={**shared, "folder": "beta-ledger/acme-web"}),
        environment_manifest("acme", "web", nsx={"site": "nsx-dfw", "tier1": "beta-t1"}),
        environment_manifest("acme", "web", kubernetes={"site": "spot-dfw",
                                                        "namespace": "beta-ledger"}),
    ]  # fmt: skip


def _aimed_refs() -> list[dict[str, str]]:
    """Secret references climbing out of acme's Vault mount towards beta's."""
    paths = ["../beta/hooks", "/beta/hooks", "acme/../../beta", "%2e%2e/beta", "./../beta"]
    return [{"path": path, "key": "k"} for path in paths]


def _aimed_registrations() -> list[dict[str, Any]]:
    """Registrations by acme whose environment or secrets reach into beta's tenant."""
    bodies = [_registration(manifest) for manifest in _aimed_manifests()]
    for ref in _aimed_refs():
        bodies.append(
            {**_registration(environment_manifest("acme", "web")), "webhookSecretRef": ref}
        )
        bodies.append({**_registration(environment_manifest("acme", "web")), "credentialsRef": ref})
        bodies.append({**_registration(environment_manifest("acme", "web")), "forge": _forge(ref)})
    for url in _PRIVATE_FORGES:
        forge = _forge({"path": "forge/web", "key": "token"}, api_url=url)
        bodies.append({**_registration(environment_manifest("acme", "web")), "forge": forge})
    return bodies


# Where a forge's API URL would carry acme's token into the engine's own network (bar R11).
_PRIVATE_FORGES = ("http://10.0.0.5/api/v4", "http://169.254.169.254/", "http://127.0.0.1:3000/")


def _forge(ref: dict[str, str], *, api_url: str = "https://git.example.com/api/v4") -> Any:
    return {"provider": "gitlab", "apiUrl": api_url, "tokenRef": ref}


def _aimed_changes() -> list[tuple[dict[str, Any], int]]:
    """Changes of acme's own registration aimed at beta, with the status registration gives."""
    adds = [
        {"addEnvironments": [{"name": "web", "path": "environments/web", "manifest": manifest}]}
        for manifest in _aimed_manifests()
    ]
    refs = [
        {field: ref} for ref in _aimed_refs() for field in ("webhookSecretRef", "credentialsRef")
    ]
    refs += [{"forge": _forge(ref)} for ref in _aimed_refs()]
    refs += [
        {"forge": _forge({"path": "forge/web", "key": "token"}, api_url=url)}
        for url in _PRIVATE_FORGES
    ]
    return [(body, 403) for body in adds] + [(body, 422) for body in refs]


def _registration(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "https://git.example.com/acme/web.git",
        "webhookSecretRef": {"path": "hooks/web", "key": "k"},
        "environments": [{"name": "web", "path": "environments/web", "manifest": manifest}],
    }


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _beta_state(world: World) -> dict[str, Any]:
    """Everything a write aimed at beta could change, and acme's repositories."""
    beta_id, acme_id = world.tenants["beta"].tenant_id, world.tenants["acme"].tenant_id
    with world.store.database.read() as session:
        tokens = session.scalars(select(ApiToken).where(ApiToken.tenant_id == beta_id))
        sites = session.scalars(select(SiteGrant.site).where(SiteGrant.tenant_id == beta_id))
        return {
            "work": _count(session, select(WorkItem.id).where(WorkItem.key.startswith("beta/"))),
            "approvals": _count(
                session, select(PlanApproval.id).where(PlanApproval.tenant_id == beta_id)
            ),
            "audit": _count(session, select(AuditEntry.seq).where(AuditEntry.tenant == "beta")),
            "tokens": sorted((row.id, row.revoked_at is None) for row in tokens),
            "sites": sorted(sites),
            "acme_repositories": _count(
                session, select(Repository.id).where(Repository.tenant_id == acme_id)
            ),
            "repositories": [
                (row.id, row.branch, row.removed_at)
                for row in session.scalars(
                    select(Repository).where(Repository.tenant_id == beta_id)
                )
            ],
            "environments": [
                (row.id, row.name, row.repository_id, row.removed_at)
                for row in session.scalars(
                    select(Environment).where(Environment.tenant_id == beta_id)
                )
            ],
            "registrations": [
                (
                    row.webhook_secret_ref,
                    row.credentials_ref,
                    row.notify_url,
                    row.forge,
                    row.environment_paths,
                )
                for row in session.scalars(
                    select(RepositoryRegistration)
                    .join(Repository, Repository.id == RepositoryRegistration.repository_id)
                    .where(Repository.tenant_id == beta_id)
                )
            ],
        }


def _leaked(answer: httpx.Response, beta: Seeded, *, call: Call, foreign: bool) -> bool:
    """Success on beta's object, or one of beta's strings in the answer that the caller did
    not send itself (a 404 may name the id it was asked for)."""
    if foreign and answer.is_success:
        return True
    sent = unquote(call.path) + json.dumps(call.json)
    return any(marker in answer.text and marker not in sent for marker in beta.markers)


def test_every_api_route_is_in_the_isolation_matrix(world: World) -> None:
    served = {
        (method.upper(), path)
        for path, operations in world.app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert served == {(route.method, route.path) for route in ROUTES}


def test_r10_no_endpoint_reads_or_writes_another_tenants_objects(world: World) -> None:
    acme, beta = world.tenants["acme"], world.tenants["beta"]
    # beta's plan is approved, so that a withdrawal reaching it would show in beta's state.
    own_approval = Call(
        "POST", f"/api/v1/plans/{beta.plan_id}/approvals", beta.tokens["admin"],
        json={"reason": "beta's own"},
    )  # fmt: skip
    approved = send(world.app, [own_approval])
    assert approved[0].status_code == 201, approved[0].text
    before = _beta_state(world)
    assert before["approvals"] == 1
    calls: list[Call] = []
    for route in ROUTES:
        if route.path == "/api/v1/repositories" and route.method == "POST":
            continue  # the manifest matrix below aims registrations at beta
        for target in _targets(route, beta):
            calls += [Call(route.method, target, acme.tokens[r], json=route.body) for r in ROLES]
    aimed = [
        Call("POST", "/api/v1/repositories", acme.tokens[role], json=body)
        for body in _aimed_registrations()
        for role in ("deployer", "admin")
    ]
    own = f"/api/v1/repositories/{acme.repository_id}"
    changes = [
        (Call("PATCH", own, acme.tokens[role], json=body), status)
        for body, status in _aimed_changes()
        for role in ("deployer", "admin")
    ]
    acme_before = send(world.app, [Call("GET", own, acme.tokens["viewer"])])[0].json()
    answers = send(world.app, calls + aimed + [call for call, _ in changes])
    leaks = [
        (call.method, call.path, answer.status_code)
        for call, answer in zip(calls + aimed, answers[: len(calls + aimed)], strict=True)
        if _leaked(answer, beta, call=call, foreign=call in aimed or _has_id(call.path))
        or _wrong_status(call, answer)
    ]
    leaks += [
        (call.method, call.path, answer.status_code)
        for (call, status), answer in zip(changes, answers[len(calls + aimed) :], strict=True)
        if answer.status_code != status or _leaked(answer, beta, call=call, foreign=True)
    ]
    after = _beta_state(world)
    acme_after = send(world.app, [Call("GET", own, acme.tokens["viewer"])])[0].json()
    foreign_ids = sum(1 for call in calls if _has_id(call.path))
    print(
        f"\nR10: {len(calls)} API calls by acme's viewer, deployer and admin over {len(ROUTES)} "
        f"routes ({foreign_ids} naming beta's objects), {len(aimed)} registrations and "
        f"{len(changes)} registration changes aimed at beta's Vault mount, sites, folder, "
        f"tier-1 gateway or namespace or at a private forge API; {len(leaks)} leaks, beta's state "
        f"{'unchanged' if before == after else 'CHANGED'}, acme's aimed-at registration "
        f"{'unchanged' if acme_before == acme_after else 'CHANGED'}"
    )
    assert leaks == []
    assert before == after
    assert acme_before == acme_after


def _has_id(path: str) -> bool:
    return any(part and (part[0].isdigit() or "BETA" in part.upper()) for part in path.split("/"))


def _wrong_status(call: Call, answer: httpx.Response) -> bool:
    """Another tenant's ids answer 404 (or 403 for a role that may not call the route at all),
    never 403 after looking the object up, which would say it exists."""
    if not _has_id(call.path):
        return answer.status_code >= 500
    return answer.status_code not in {403, 404}


def test_another_tenants_id_answers_exactly_as_a_missing_one(world: World) -> None:
    acme, beta = world.tenants["acme"], world.tenants["beta"]
    token = acme.tokens["admin"]
    pairs = [
        (f"/api/v1/environments/{beta.environment_id}", "/api/v1/environments/987654"),
        (f"/api/v1/runs/{beta.run_id}", "/api/v1/runs/987654"),
        (f"/api/v1/drift-reports/{beta.drift_id}", "/api/v1/drift-reports/987654"),
        (f"/api/v1/repositories/{beta.repository_id}", "/api/v1/repositories/987654"),
    ]
    writes = [("PATCH", {"branch": "r10"}), ("DELETE", None)]
    repos = pairs[-1]
    for theirs, missing in pairs:
        foreign, absent = send(world.app, [Call("GET", theirs, token), Call("GET", missing, token)])
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json()["title"] == absent.json()["title"]
        assert foreign.json()["type"] == absent.json()["type"]
    for method, body in writes:
        foreign, absent = send(world.app, [Call(method, repos[0], token, json=body),
                                           Call(method, repos[1], token, json=body)])  # fmt: skip
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json()["title"] == absent.json()["title"]
        assert foreign.json()["type"] == absent.json()["type"]


def test_beta_still_reads_its_own_objects_after_the_matrix(world: World) -> None:
    beta = world.tenants["beta"]
    token = beta.tokens["viewer"]
    plan = send(world.app, [Call("GET", f"/api/v1/plans/{beta.plan_id}", token)])[0]
    assert plan.status_code == 200
    assert plan.json()["body"]["note"] == beta.markers[0]


def test_an_idempotency_key_of_another_tenant_replays_nothing_of_it(world: World) -> None:
    acme, beta = world.tenants["acme"], world.tenants["beta"]
    shared = {"Idempotency-Key": "deploy-2026-03-01"}
    path = f"/api/v1/environments/{beta.environment_id}/syncs"
    theirs = send(world.app, [Call("POST", path, beta.tokens["deployer"], headers=shared)])[0]
    assert theirs.status_code == 202
    mine = send(world.app, [Call("POST", path, acme.tokens["deployer"], headers=shared)])[0]
    assert mine.status_code == 404
    assert "idempotent-replayed" not in mine.headers
    assert "workItemId" not in mine.json()


def test_a_cursor_from_another_tenants_listing_reads_only_the_callers_objects(
    world: World,
) -> None:
    acme, beta = world.tenants["acme"], world.tenants["beta"]
    for _ in range(3):
        world.store.runs.queue(environment_id=beta.environment_id, commit="b" * 40)
    theirs = send(world.app, [Call("GET", f"/api/v1/environments/{beta.environment_id}/runs"
                                   "?limit=1", beta.tokens["viewer"])])[0].json()  # fmt: skip
    cursor = theirs["nextCursor"]
    assert cursor
    mine = send(world.app, [Call("GET", f"/api/v1/environments/{acme.environment_id}/runs"
                                 f"?cursor={cursor}", acme.tokens["viewer"])])[0]  # fmt: skip
    assert mine.status_code == 200
    assert not any(marker in mine.text for marker in beta.markers)
    assert all(run["environmentId"] == acme.environment_id for run in mine.json()["items"])
