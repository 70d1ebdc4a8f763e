"""Bar R3: two engines on one PostgreSQL database; the lease holder is paused mid-apply, the
other takes over, and the paused one, resumed, writes nothing (its fencing token is stale)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import LeaseLost
from core.resources import Change
from drivers.fake import FakeWorld
from drivers.protocol import Applied
from reconciler import events
from reconciler.reconciling import Options, Reconciler
from reconciler.sites import Sites
from state.checkpoints import SigningKey
from state.database import open_database
from state.models import AppliedResource, Run, RunStatus
from state.store import Store, build_store
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import EnvRepo

pytestmark = pytest.mark.postgres


class Pause:
    """Set when the engine reached its first apply; every apply waits for ``resume``."""

    def __init__(self) -> None:
        self.reached, self.resume = threading.Event(), threading.Event()


class Paused:
    """A driver whose applies stop until the test lets them go on: the engine is paused
    (a long GC, a stopped VM) with its lease in hand, before it wrote anything."""

    def __init__(self, inner: Any, pause: Pause) -> None:
        self.inner = inner
        self.platform = inner.platform
        self.pause = pause

    def observe(self, scope: Any) -> Any:
        return self.inner.observe(scope)

    def health(self, ref: Any) -> Any:
        return self.inner.health(ref)

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        self.pause.reached.set()
        assert self.pause.resume.wait(timeout=30)
        return self.inner.apply(change, dry_run=dry_run)  # type: ignore[no-any-return]


def engine_store(url: str, key: SigningKey, *, ahead: dt.timedelta) -> Store:
    """A store of its own (its own connections) whose clock runs ``ahead`` of real time, so
    the other engine's lease looks expired to it without anyone sleeping."""
    return build_store(open_database(url), key=key, clock=lambda: dt.datetime.now(dt.UTC) + ahead)


def test_r3_a_paused_lease_holder_writes_nothing_after_another_engine_took_over(
    pg_store: Store, postgres_url: str, key: SigningKey, env_repo: EnvRepo
) -> None:
    head = env_repo.initial()
    world = FakeWorld()
    pause = Pause()
    sites_a = Sites()
    for (platform, site), driver in fake_sites(world).drivers.items():
        sites_a.add(platform, Paused(driver, pause), site=site)  # type: ignore[arg-type]
    store_a = engine_store(postgres_url, key, ahead=dt.timedelta(0))
    store_b = engine_store(postgres_url, key, ahead=dt.timedelta(minutes=30))
    engine_a = Reconciler(store_a, sites_a, options=Options(holder="engine-a"))
    engine_b = Reconciler(store_b, fake_sites(world), options=Options(holder="engine-b"))
    errors: list[BaseException] = []

    def run_a() -> None:
        try:
            engine_a.reconcile(env_repo.target(), head)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run_a)
    thread.start()
    try:
        assert pause.reached.wait(timeout=60)
        taken = engine_b.reconcile(env_repo.target(), head)
    finally:
        pause.resume.set()
        thread.join(timeout=60)

    assert taken.status == "succeeded"
    assert [type(e) for e in errors] == [LeaseLost]
    with pg_store.database.read() as session:
        runs = {row.fencing_token: row.status for row in session.scalars(select(Run))}
        tokens = set(session.scalars(select(AppliedResource.fencing_token)))
    assert runs == {1: RunStatus.RUNNING, 2: RunStatus.SUCCEEDED}
    assert tokens == {2}
    kinds = [e.type for e in pg_store.outbox.unsent(limit=1000)]
    assert kinds.count(events.APPLY_SUCCEEDED) == 1
    for store in (store_a, store_b):
        store.close()
