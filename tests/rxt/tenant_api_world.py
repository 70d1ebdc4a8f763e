"""Two tenants with repositories, environments, plans, runs, drift reports, audit entries and a
token of every role, behind the tenant API on a state store; and a way to call it over ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from rxt.api import create_app
from rxt.api.access import TenantServices
from rxt.api.urls import UrlPolicy, system_resolver
from state.access import Role
from state.checkpoints import CheckpointPolicy, SigningKey
from state.database import Clock, Database
from state.models import DriftStatus
from state.store import Store, build_store
from state.tenancy import Registration

TENANTS = ("acme", "beta")
SITES = {
    "acme": ("sddc-dfw", "nsx-dfw", "spot-dfw"),
    # beta shares the vSphere site with acme and has sites of its own.
    "beta": ("sddc-dfw", "sddc-ord", "nsx-ord", "spot-ord"),
}
# Names only the fake resolver knows; nothing is looked up off this machine.
FAKE_DNS: dict[str, list[str]] = {
    "git.example.com": ["93.184.216.34"],
    "hooks.example.com": ["93.184.216.35"],
    "internal.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "rebind.example.com": ["93.184.216.36", "127.0.0.1"],
    "v6local.example.com": ["fd00::1"],
}


def fake_resolver(host: str) -> list[str]:
    """The fake names above; ``localhost`` and IP literals through this machine's resolver."""
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    if host == "localhost" or host.endswith(".localhost") or not any(c.isalpha() for c in host):
        return system_resolver(host)
    return []


@dataclass
class Seeded:
    """What one tenant owns, and strings that only its objects contain."""

    tenant: str
    tenant_id: int
    repository_id: int
    environment_id: int
    environment: str
    plan_id: str
    plain_plan_id: str
    run_id: int
    drift_id: int
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    markers: tuple[str, ...] = ()


@dataclass
class World:
    app: FastAPI
    store: Store
    api: TenantServices
    operator: str
    tenants: dict[str, Seeded]


def build_world(
    database: Database,
    *,
    key: SigningKey,
    clock: Clock,
    urls: UrlPolicy | None = None,
) -> World:
    store = build_store(database, key=key, policy=CheckpointPolicy(every_entries=1000), clock=clock)
    api = TenantServices.of(store, urls=urls or UrlPolicy.of(resolver=fake_resolver))
    app = create_app(secrets=lambda _repo: (), enqueue=lambda _delivery: None, tenant_api=api)
    issued = api.tokens.ensure_operator()
    assert issued is not None
    seeded = {tenant: _seed(store, api, tenant) for tenant in TENANTS}
    return World(app, store, api, issued.secret, seeded)


def environment_manifest(tenant: str, name: str, **sites: Any) -> dict[str, Any]:
    """An environment.yaml of ``tenant`` on its own sites; ``sites`` replaces platforms."""
    own = SITES[tenant]
    default = {
        "vsphere": {"site": own[0], "datacenter": "DC0", "cluster": "DC0_C0",
                    "folder": f"{tenant}-{name}", "network": "VM Network",
                    "template": "ubuntu-2404"},
        "nsx": {"site": own[-2], "tier1": f"{tenant}-t1"},
        "kubernetes": {"site": own[-1], "namespace": f"{tenant}-{name}"},
    }  # fmt: skip
    default.update(sites)
    return {
        "apiVersion": "deploy.rxt.io/v1",
        "kind": "Environment",
        "metadata": {"name": name, "tenant": tenant},
        "spec": {"sites": {k: v for k, v in default.items() if v is not None}},
    }


def _seed(store: Store, api: TenantServices, tenant: str) -> Seeded:
    api.grants.grant(tenant, SITES[tenant])
    mark = f"{tenant.upper()}-ONLY-7f3a"
    env = f"{tenant}-ledger"
    registration = Registration(
        url=f"https://git.example.com/{tenant}/{mark.lower()}.git",
        branch="main",
        webhook_secret_ref={"path": f"hooks/{mark}", "key": "secret"},
        environments={env: f"environments/{env}"},
    )
    tokens = {role.name.lower(): api.tokens.issue(tenant, role=role, name=f"{tenant}-{role.name}")
              for role in (Role.VIEWER, Role.DEPLOYER, Role.ADMIN)}  # fmt: skip
    admin = tokens["admin"].principal
    tenant_id = admin.tenant_id
    assert tenant_id is not None
    repo = api.tenancy.register(tenant_id, registration, tenant=tenant, actor=admin.actor)
    env_id = int(repo["environments"][0]["id"])
    commit = (mark.encode().hex() + "0" * 40)[:40]
    store.catalog.saw_revision(env_id, commit)
    held = {"changes": [{"name": f"vm-{mark}", "needs_approval": True}], "note": mark}
    plain = {"changes": [{"name": f"svc-{mark}", "needs_approval": False}]}
    for plan_id, body in ((f"plan-{mark}", held), (f"plain-{mark}", plain)):
        store.catalog.save_plan(
            plan_id, environment_id=env_id, commit=commit, kind="apply",
            body=body, plan_hash=f"sha256:{mark}", fingerprint=mark,
        )  # fmt: skip
    run = store.runs.queue(environment_id=env_id, commit=commit, plan_id=f"plan-{mark}")
    drift = store.catalog.report_drift(env_id, DriftStatus.DRIFTED, diffs=[{"path": mark}])
    return Seeded(
        tenant, tenant_id, int(repo["id"]), env_id, env, f"plan-{mark}", f"plain-{mark}",
        run.id, drift,
        tokens={role: token.secret for role, token in tokens.items()},
        token_ids={role: token.principal.token_id for role, token in tokens.items()},
        markers=(mark, mark.lower(), commit, env),
    )  # fmt: skip


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    token: str = ""
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def send(app: FastAPI, calls: Sequence[Call]) -> list[httpx.Response]:
    """Send ``calls`` in order over ASGI, in one event loop."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        answers = []
        async with httpx.AsyncClient(transport=transport, base_url="http://rxt") as client:
            for call in calls:
                headers = dict(call.headers)
                if call.token:
                    headers["Authorization"] = f"Bearer {call.token}"
                answers.append(
                    await client.request(call.method, call.path, json=call.json, headers=headers)
                )
        return answers

    return asyncio.run(go())


def one(app: FastAPI, method: str, path: str, token: str = "", **kwargs: Any) -> httpx.Response:
    return send(app, [Call(method, path, token, **kwargs)])[0]
