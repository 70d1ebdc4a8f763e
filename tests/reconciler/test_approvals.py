"""Changes that need approval wait for a person: an approval of the very plan id releases
them on the next reconcile, and a plan computed anew needs its own approval."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.resources import Platform
from drivers.fake import FakeWorld
from reconciler.reconciling import Reconciler
from reconciler.recording import stored_plan_id
from state.models import PlanApproval, Tenant
from state.store import Store
from tests.reconciler.envrepo import DB, EnvRepo


def _vms(world: FakeWorld) -> list[str]:
    return [str(ref) for ref in world.objects if ref.platform is Platform.VSPHERE]


def _approve(store: Store, plan_id: str, *, by: str) -> None:
    with store.database.write() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.name == "acme")).one()
        session.add(
            PlanApproval(
                plan_id=stored_plan_id(plan_id),
                tenant_id=tenant.id,
                approved_by=by,
                reason="the database moves to the managed service",
                approved_at=dt.datetime.now(dt.UTC),
            )
        )


def test_a_pruned_vm_waits_for_approval_of_its_plan_then_is_deleted(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    assert _vms(world)
    without_db = env_repo.push({DB: None})

    first = reconciler.reconcile(env_repo.target(), without_db)
    assert first.held, first
    # The first run applied what needed no approval (db's NSX objects), which changed the
    # world; the plan that now holds only the VM's deletion is the one a person approves.
    held = reconciler.reconcile(env_repo.target(), without_db)
    assert (held.status, held.held) == ("unchanged", first.held)
    assert _vms(world), "a VM whose deletion needs approval was deleted without one"

    _approve(store, held.plan_id, by="alice@acme")
    released = reconciler.reconcile(env_repo.target(), without_db)

    assert released.plan_id == held.plan_id
    assert released.held == ()
    assert _vms(world) == []


def test_an_approval_of_an_older_plan_releases_nothing(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    reconciler.reconcile(env_repo.target(), env_repo.initial())
    first = reconciler.reconcile(env_repo.target(), env_repo.push({DB: None}))
    _approve(store, first.plan_id, by="alice@acme")
    # Another commit: the plan is computed anew, with another id, and needs its own approval.
    other = env_repo.push({"apps/web/NOTES.md": "unrelated\n"})

    again = reconciler.reconcile(env_repo.target(), other)

    assert again.plan_id != first.plan_id
    assert again.held
    assert _vms(world)
