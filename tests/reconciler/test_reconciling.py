"""Reconcile against the fake driver world and a real Git repository, on SQLite: records,
no-op second runs, policy denials, saved plans, invalid manifests and the lease fence."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import delete, func, select

from core.errors import ConfigError, LeaseLost
from core.resources import Platform, ResourceRef, SecretRef
from drivers.fake import FakeWorld
from reconciler import events
from reconciler.leasing import EnvironmentBusy
from reconciler.reconciling import Options, Reconciler
from state.audit import LogFilter
from state.leases import environment_lease_name
from state.models import AppliedResource, AuditEntry, OutboxEvent, Run, RunStatus
from state.store import Store
from state.verifying import verify_chains
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import WEB, EnvRepo, web_yaml

DENY_REPLICAS = """\
package acme.limits
import rego.v1
deny contains {"rule": "acme.max-replicas", "msg": msg} if {
  some name, app in input.apps
  app.spec.replicas > 5
  msg := sprintf("app %s asks for %d replicas", [name, app.spec.replicas])
}
"""


def count(store: Store, model: type, *where: object) -> int:
    with store.database.read() as session:
        query = select(func.count()).select_from(model)
        for clause in where:
            query = query.where(clause)  # type: ignore[arg-type]
        return int(session.scalar(query) or 0)


def event_types(store: Store) -> list[str]:
    return [event.type for event in store.outbox.unsent(limit=1000)]


def test_a_push_is_applied_recorded_and_a_second_reconcile_is_a_no_op(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    head = env_repo.initial()
    first = reconciler.reconcile(env_repo.target(), head)
    assert first.status == "succeeded", first
    assert first.wrote == len(world.objects) > 0
    assert count(store, AppliedResource) == len(world.objects)
    assert count(store, Run, Run.status == RunStatus.SUCCEEDED) == 1
    assert event_types(store) == [events.PLAN_COMPUTED, events.APPLY_SUCCEEDED]
    writes, applied = world.writes, count(store, AppliedResource)

    second = reconciler.reconcile(env_repo.target(), head)

    assert (second.status, second.wrote, world.writes) == ("unchanged", 0, writes)
    assert count(store, AppliedResource) == applied
    assert count(store, Run) == 1
    [report] = verify_chains(store.database, public_key=store.key.public)
    assert report.ok
    assert report.entries == count(store, AuditEntry)


def test_every_applied_row_and_run_carries_the_fencing_token_of_its_lease(
    env_repo: EnvRepo, reconciler: Reconciler, store: Store
) -> None:
    head = env_repo.initial()
    name = environment_lease_name("acme", "prod")
    for holder in ("someone", "else"):  # two earlier grants push the token up to 3
        lease = store.leases.acquire(name, holder=holder, ttl=dt.timedelta(minutes=1))
        assert lease is not None
        store.leases.release(lease)
    reconciler.reconcile(env_repo.target(), head)
    with store.database.read() as session:
        tokens = set(session.scalars(select(AppliedResource.fencing_token)))
        tokens |= set(session.scalars(select(Run.fencing_token)))
    assert tokens == {3}


def test_a_policy_denial_applies_nothing_and_is_recorded_with_its_rule(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    env_repo.initial()
    head = env_repo.push({WEB: web_yaml(replicas=9)}, root={"policies/limits.rego": DENY_REPLICAS})
    result = reconciler.reconcile(env_repo.target(), head)
    assert result.status == "denied"
    assert any("acme.max-replicas" in rule for rule in result.failed)
    assert world.writes == 0
    assert count(store, Run) == 0
    assert events.POLICY_DENIED in event_types(store)
    denied = audit_actions(store, "policy.denied")
    assert "acme.max-replicas" in denied[0]


def audit_actions(store: Store, action: str) -> list[str]:
    """The details of every audit entry of ``action``, newest first."""
    entries = store.audit.entries(LogFilter(tenant="acme", limit=10_000))
    return [entry.fields.details for entry in entries if entry.fields.action == action]


@pytest.mark.parametrize(
    ("saved", "why"),
    [
        ("same", ""),
        ("sha256:unknown", "unknown"),
    ],
)
def test_a_saved_plan_is_applied_only_while_its_id_still_matches(
    env_repo: EnvRepo, reconciler: Reconciler, saved: str, why: str
) -> None:
    head = env_repo.initial()
    preview = reconciler.preview(env_repo.target(), head)
    plan_id = preview.id if saved == "same" else saved
    result = reconciler.reconcile(env_repo.target(), head, saved_plan=plan_id)
    assert result.status == "succeeded"
    assert result.plan_id == preview.id
    assert (why in result.replanned) if why else result.replanned == ""


def test_a_saved_plan_made_before_the_world_changed_is_planned_again_and_says_why(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld
) -> None:
    head = env_repo.initial()
    preview = reconciler.preview(env_repo.target(), head)
    reconciler.reconcile(env_repo.target(), head)  # someone applied it meanwhile
    web = env_repo.push({WEB: web_yaml(replicas=3)})
    result = reconciler.reconcile(env_repo.target(), web, saved_plan=preview.id)
    assert result.status == "succeeded"
    assert head in result.replanned
    assert web in result.replanned


def test_invalid_manifests_stop_the_reconcile_before_any_lease_or_write(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    env_repo.initial()
    head = env_repo.push({WEB: "kind: Application\nmetadata: {}\n"})
    result = reconciler.reconcile(env_repo.target(), head)
    assert result.status == "invalid"
    assert "deploy.yaml" in result.error
    assert world.writes == 0
    assert store.leases.current(environment_lease_name("acme", "prod")) is None


def test_a_reconcile_waits_for_no_one_while_another_engine_holds_the_lease(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    head = env_repo.initial()
    name = environment_lease_name("acme", "prod")
    assert store.leases.acquire(name, holder="engine-b", ttl=dt.timedelta(minutes=5))
    with pytest.raises(EnvironmentBusy, match="engine-b"):
        reconciler.reconcile(env_repo.target(), head)
    assert world.writes == 0


def test_a_lease_taken_over_mid_apply_refuses_every_later_write(
    env_repo: EnvRepo, store: Store, world: FakeWorld
) -> None:
    head = env_repo.initial()
    name = environment_lease_name("acme", "prod")
    sites = fake_sites(world)
    taken: list[int] = []

    class Thief:
        """Steals the lease as soon as the first object is written, like a paused holder."""

        def __init__(self, inner: object) -> None:
            self.inner = inner
            self.platform = inner.platform  # type: ignore[attr-defined]

        def __getattr__(self, attr: str) -> object:
            return getattr(self.inner, attr)

        def apply(self, change: object, *, dry_run: bool = False) -> object:
            done = self.inner.apply(change, dry_run=dry_run)  # type: ignore[attr-defined]
            if not taken:
                with store.database.write() as session:
                    from state.models import Lease as Row

                    row = session.get(Row, name)
                    assert row is not None
                    row.expires_at = row.acquired_at  # expire it
                stolen = store.leases.acquire(name, holder="engine-b", ttl=dt.timedelta(minutes=5))
                assert stolen is not None
                taken.append(stolen.token)
            return done

    for key, driver in list(sites.drivers.items()):
        sites.drivers[key] = Thief(driver)  # type: ignore[assignment]
    engine = Reconciler(store, sites, options=Options(holder="engine-a"))
    with pytest.raises(LeaseLost):
        engine.reconcile(env_repo.target(), head)
    assert count(store, AppliedResource) == 0
    with store.database.read() as session:
        assert set(session.scalars(select(Run.status))) == {RunStatus.RUNNING}
    assert count(store, OutboxEvent, OutboxEvent.type == events.APPLY_SUCCEEDED) == 0


def test_a_policy_that_cannot_be_evaluated_denies_and_is_audited(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    env_repo.initial()
    broken = "package acme.broken\nimport rego.v1\ndeny contains msg if {\n"
    head = env_repo.push({}, root={"policies/broken.rego": broken})
    result = reconciler.reconcile(env_repo.target(), head)
    assert result.status == "denied"
    assert world.writes == 0
    assert audit_actions(store, "policy.denied")


class CountingSecrets:
    """A secret source that only knows versions, counting the metadata reads."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        self.reads.append(f"{tenant}:{ref}")
        return 7

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        raise AssertionError("the reconcile reads versions only; drivers read values")

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        raise AssertionError("not used here")


def test_secret_versions_are_read_for_rendering_and_roll_into_the_desired_spec(
    env_repo: EnvRepo, store: Store, world: FakeWorld
) -> None:
    env_repo.initial()
    app = web_yaml() + "  \n"
    app = app.replace("  env: {LOG_LEVEL: info}\n", "  env:\n    LOG_LEVEL: info\n"
                      "    DB_PASSWORD: {secretRef: {path: web/db, key: password}}\n")  # fmt: skip
    head = env_repo.push({WEB: app})
    sites = fake_sites(world)
    secrets = CountingSecrets()
    sites.secrets = secrets
    result = Reconciler(store, sites).reconcile(env_repo.target(), head)
    assert result.status == "succeeded"
    assert secrets.reads == ["acme:web/db#password"] * 2  # the plan, then the applied record
    deployment = world.objects[ResourceRef(Platform.KUBERNETES, "Deployment", "web", "acme-prod")]
    assert "7" in json.dumps(dict(deployment.spec))


def test_secret_references_without_a_secret_source_are_a_configuration_error(
    env_repo: EnvRepo, reconciler: Reconciler
) -> None:
    env_repo.initial()
    app = web_yaml().replace(
        "  env: {LOG_LEVEL: info}\n",
        "  env:\n    DB_PASSWORD: {secretRef: {path: web/db, key: password}}\n",
    )
    head = env_repo.push({WEB: app})
    with pytest.raises(ConfigError, match="no secret source"):
        reconciler.reconcile(env_repo.target(), head)


def test_a_lease_is_renewed_from_its_own_thread_while_an_apply_runs(
    store: Store,
) -> None:
    from reconciler.leasing import LeaseKeeper

    name = environment_lease_name("acme", "prod")
    ttl = dt.timedelta(seconds=0.3)
    lease = store.leases.acquire(name, holder="engine-a", ttl=ttl)
    assert lease is not None
    with LeaseKeeper(store.leases, lease, ttl=ttl) as keeper:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
        while keeper.lease.expires_at == lease.expires_at:
            assert dt.datetime.now(dt.UTC) < deadline, "the lease was never renewed"
            threading.Event().wait(0.02)
        assert keeper.lease.token == lease.token


def test_objects_written_by_an_engine_killed_before_its_record_are_confirmed_without_a_write(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    head = env_repo.initial()
    reconciler.reconcile(env_repo.target(), head)
    with store.database.write() as session:
        session.execute(delete(AppliedResource))  # as if the records never committed
    writes = world.writes
    result = reconciler.reconcile(env_repo.target(), head)
    assert result.status == "unchanged"
    assert world.writes == writes
    assert count(store, AppliedResource) == len(world.objects)
    assert len(audit_actions(store, "resource.confirmed")) == len(world.objects)
