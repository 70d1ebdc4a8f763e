"""Changes that need approval wait for a person. An approval covers the changes its plan held,
by identity (action, address, desired spec), so it survives a new plan id; it never covers
another change, another environment's or tenant's plan, an old approval, or a change applied
since."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.resources import Platform
from drivers.fake import FakeWorld
from planner.views.json import plan_document
from reconciler import history
from reconciler.approvals import (
    APPROVAL_MAX_AGE,
    Release,
    change_identity,
    released,
    stored_identity,
)
from reconciler.reconciling import Options, Reconciler
from reconciler.recording import stored_plan_id
from state.models import Environment, Plan, PlanApproval, Tenant
from state.store import Store
from state.tenancy import Tenancy
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import DB, WEB, EnvRepo, db_yaml, environment_yaml, web_yaml

CACHE = "apps/cache/deploy.yaml"


def _vms(world: FakeWorld) -> list[str]:
    # VM names are ``<tenant>-<environment>-<app>-<index>``; the app is what the tests follow.
    names = (ref.name for ref in world.objects if ref.platform is Platform.VSPHERE)
    return sorted(name.split("-")[2] for name in names)


def _cache_yaml() -> str:
    return db_yaml().replace("name: db", "name: cache")


def _approve(store: Store, plan_id: str, *, by: str, age: dt.timedelta = dt.timedelta()) -> None:
    """Record an approval as the tenant API does, by the plan's own tenant."""
    with store.database.write() as session:
        plan = session.get(Plan, stored_plan_id(plan_id))
        assert plan is not None
        environment = session.get(Environment, plan.environment_id)
        assert environment is not None
        session.add(
            PlanApproval(
                plan_id=plan.id, tenant_id=environment.tenant_id, approved_by=by,
                reason="the database moves to the managed service",
                approved_at=dt.datetime.now(dt.UTC) - age,
            )
        )  # fmt: skip


def _copy_plan(store: Store, plan_id: str, *, tenant: str, environment: str) -> str:
    """The same plan body stored under another environment (of ``tenant``); its new id."""
    other = store.catalog.environment(tenant, environment)
    with store.database.write() as session:
        plan = session.get(Plan, stored_plan_id(plan_id))
        assert plan is not None
        copy_id = "0" * 8 + plan.id[8:]
        session.add(
            Plan(
                id=copy_id, environment_id=other, commit=plan.commit, kind=plan.kind,
                body=dict(plan.body), plan_hash=plan.plan_hash, fingerprint=plan.fingerprint,
                created_at=plan.created_at,
            )
        )  # fmt: skip
    return copy_id


def _first_plans_approval_releases_the_prune(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld
) -> None:
    store = reconciler.store
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    change = env_repo.push({DB: None, WEB: web_yaml(replicas=3)})

    first = reconciler.reconcile(env_repo.target(), change)
    assert first.status == "succeeded", first
    assert first.held, first
    assert first.applied, "the unheld changes apply while the prune waits"
    assert _vms(world) == ["db"]
    _approve(store, first.plan_id, by="alice@acme")
    released = reconciler.reconcile(env_repo.target(), change)

    assert released.plan_id != first.plan_id, "the first run changed the world"
    assert (released.status, released.held) == ("succeeded", ())
    assert _vms(world) == []


def test_an_approval_of_the_first_plan_releases_its_prune_after_the_plan_id_changed(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld
) -> None:
    _first_plans_approval_releases_the_prune(env_repo, reconciler, world)


def test_on_postgresql_the_first_plans_approval_releases_its_prune(
    env_repo: EnvRepo, pg_store: Store, world: FakeWorld
) -> None:
    reconciler = Reconciler(pg_store, fake_sites(world), options=Options(holder="engine-a"))
    _first_plans_approval_releases_the_prune(env_repo, reconciler, world)


def test_an_old_approval_does_not_release_a_different_held_change(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    reconciler.reconcile(env_repo.target(), env_repo.push({CACHE: _cache_yaml()}))
    first = reconciler.reconcile(env_repo.target(), env_repo.push({DB: None}))
    _approve(store, first.plan_id, by="alice@acme")
    # The cache VM is pruned later; its deletion was never shown to, nor approved by, anyone.
    later = reconciler.reconcile(env_repo.target(), env_repo.push({CACHE: None}))

    assert _vms(world) == ["cache"]
    assert [ref.rpartition("/")[2] for ref in later.held] == ["acme-prod-cache-0"]


def test_an_approval_is_spent_once_its_change_was_applied(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    first = reconciler.reconcile(env_repo.target(), env_repo.push({DB: None}))
    _approve(store, first.plan_id, by="alice@acme")
    reconciler.reconcile(env_repo.target(), env_repo.push({"apps/web/NOTES.md": "later\n"}))
    assert _vms(world) == []
    reconciler.reconcile(env_repo.target(), env_repo.push({DB: db_yaml()}))
    assert _vms(world) == ["db"]

    # The same deletion again, within the day: it needs a new yes.
    again = reconciler.reconcile(env_repo.target(), env_repo.push({DB: None}))

    assert again.held
    assert _vms(world) == ["db"]


@pytest.mark.parametrize("elsewhere", [("acme", "stage"), ("beta", "prod")], ids=["env", "tenant"])
def test_an_approval_of_another_environments_plan_releases_nothing(
    env_repo: EnvRepo,
    reconciler: Reconciler,
    world: FakeWorld,
    store: Store,
    elsewhere: tuple[str, str],
) -> None:
    tenant, environment = elsewhere
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    without_db = env_repo.push({DB: None})
    first = reconciler.reconcile(env_repo.target(), without_db)
    # The very same held change, in a plan stored and approved elsewhere.
    copy = _copy_plan(store, first.plan_id, tenant=tenant, environment=environment)
    _approve(store, copy, by=f"mallory@{tenant}")

    again = reconciler.reconcile(env_repo.target(), without_db)

    assert again.held == first.held
    assert _vms(world) == ["db"]
    _approve(store, first.plan_id, by="alice@acme")  # the control: the environment's own plan
    assert reconciler.reconcile(env_repo.target(), without_db).held == ()
    assert _vms(world) == []


def test_an_approval_older_than_the_limit_releases_nothing(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    without_db = env_repo.push({DB: None})
    first = reconciler.reconcile(env_repo.target(), without_db)
    _approve(store, first.plan_id, by="alice@acme")
    plan = reconciler.preview(env_repo.target(), without_db)
    env_id = history.environment_id(store.database, "acme", "prod")
    assert env_id is not None
    assert plan.id != first.plan_id

    def release_at(later: dt.timedelta) -> Release:
        now = dt.datetime.now(dt.UTC) + later
        return released(store.database, environment_id=env_id, plan=plan, now=now)

    held = [change for change in plan.changes if change.needs_approval]
    assert held
    assert all(release_at(dt.timedelta(hours=23)).covers(c) for c in held)
    stale = release_at(APPROVAL_MAX_AGE + dt.timedelta(minutes=1))
    assert stale == Release()
    assert not any(stale.covers(c) for c in held)


def test_a_stored_change_has_the_identity_of_the_change_and_another_spec_another_one(
    env_repo: EnvRepo, reconciler: Reconciler, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    commit = env_repo.push({DB: db_yaml(cpu=4), WEB: web_yaml(replicas=3)})
    plan = reconciler.preview(env_repo.target(), commit)
    with store.database.read() as session:
        body = session.scalars(select(Plan.body).where(Plan.id == stored_plan_id(plan.id))).one()
    stored = body["changes"]

    # The body went through the database's JSON column and back.
    assert [stored_identity(c) for c in stored] == [change_identity(c) for c in plan.changes]
    assert len(stored) >= 2
    edited = [{**c, "after": {**c["after"], "edited": True}} for c in stored if c["after"]]
    assert not {stored_identity(c) for c in edited} & {change_identity(c) for c in plan.changes}
    assert plan_document(plan)["changes"][0]["address"] == stored[0]["address"]


def test_an_approvals_reconcile_applies_where_auto_sync_is_off_and_notes_a_stale_plan(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    """What the engine does with the work item an approval queues (``trigger: approval`` and
    the approved plan's id as the saved plan)."""
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    manual = environment_yaml(
        "acme", "prod", namespace=env_repo.namespace, folder=env_repo.folder
    ).replace("auto: true", "auto: false")
    pushed = reconciler.reconcile(
        env_repo.target(), env_repo.push({"environment.yaml": manual, DB: None})
    )
    assert pushed.status == "planned", pushed
    _approve(store, pushed.plan_id, by="alice@acme")
    head = env_repo.push({"apps/web/NOTES.md": "a later commit\n"})

    done = reconciler.reconcile(
        env_repo.target(), head, saved_plan=stored_plan_id(pushed.plan_id), trigger="approval"
    )

    assert (done.status, done.held) == ("succeeded", ())
    assert done.replanned, "the approved plan was made at another commit"
    assert _vms(world) == []


def test_a_withdrawn_approval_releases_nothing_and_the_change_waits_again(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    without_db = env_repo.push({DB: None})
    first = reconciler.reconcile(env_repo.target(), without_db)
    assert first.held
    _approve(store, first.plan_id, by="alice@acme")
    tenancy = Tenancy(store.database, audit=store.audit)
    with store.database.read() as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.name == "acme")).one()
    withdrawn = tenancy.withdraw_approval(
        tenant_id, stored_plan_id(first.plan_id), tenant="acme", actor="bob@acme",
        reason="the migration slipped a week",
    )  # fmt: skip
    assert withdrawn is not None
    assert (withdrawn["approvedBy"], withdrawn["withdrawnBy"]) == ("alice@acme", "bob@acme")

    again = reconciler.reconcile(env_repo.target(), without_db)

    assert again.held == first.held
    assert _vms(world) == ["db"]
    _approve(store, first.plan_id, by="alice@acme")  # approved anew: released as before
    assert reconciler.reconcile(env_repo.target(), without_db).held == ()
    assert _vms(world) == []
