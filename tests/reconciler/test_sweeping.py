"""An engine SIGKILLed mid-apply leaves its run running; the sweep fails it once the engine's
lease is gone, never while the lease is still held, and the audit chain verifies after."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ConfigError
from drivers.fake import FakeWorld
from reconciler.mirrors import RepositoryMirror
from reconciler.reconciling import Options, Reconciler, Target
from reconciler.sites import Sites
from reconciler.sweeping import prune_preview_ledger, start_sweeping, sweep_abandoned_runs
from reconciler.wiring.config import parse_config
from reconciler.wiring.engine import Engine
from state.checkpoints import SigningKey, load_or_create_key
from state.database import open_database, utc_now
from state.leases import environment_lease_name
from state.models import Run, RunStatus
from state.previews import Pruned, StoredPreview
from state.store import Store, build_store, open_store
from state.verifying import verify_chains
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import EnvRepo
from tests.state.conftest import empty_postgres

LEASE_TTL = Options().lease_ttl


class Hanging:
    """A driver whose applies never return: the engine is stuck in a platform call when the
    test kills it, lease in hand and its run recorded as running."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.platform = inner.platform

    def observe(self, scope: Any) -> Any:
        return self.inner.observe(scope)

    def health(self, ref: Any) -> Any:
        return self.inner.health(ref)

    def apply(self, change: Any, *, dry_run: bool = False) -> Any:
        threading.Event().wait()


def reconcile_until_killed(url: str, key_path: str, remote_dir: str, cache_dir: str) -> None:
    """The engine process: reconcile acme/prod's head with drivers that hang in apply."""
    store = open_store(url, key_path=Path(key_path), migrate=False)
    sites = Sites()
    for (platform, site), driver in fake_sites(FakeWorld()).drivers.items():
        sites.add(platform, Hanging(driver), site=site)  # type: ignore[arg-type]
    mirror = RepositoryMirror(f"file://{remote_dir}", cache_dir=Path(cache_dir))
    target = Target("acme", "prod", mirror, repository=f"file://{remote_dir}")
    head = mirror.fetch()["main"]
    Reconciler(store, sites, options=Options(holder="engine-killed")).reconcile(target, head)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store's URL, on SQLite or on the local PostgreSQL."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "rxt.db")
        yield f"sqlite:///{tmp_path / 'rxt.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url).dispose()
    yield url


def store_at(url: str, key: SigningKey, *, ahead: dt.timedelta) -> Store:
    """A store of its own whose clock runs ``ahead`` of real time, so nobody sleeps."""
    return build_store(open_database(url), key=key, clock=lambda: utc_now() + ahead)


def running_runs(store: Store) -> list[int]:
    with store.database.read() as session:
        return list(session.scalars(select(Run.id).where(Run.status == RunStatus.RUNNING)))


def kill_engine_mid_apply(url: str, key_path: Path, env_repo: EnvRepo, store: Store) -> int:
    """Start an engine process, SIGKILL it once its run is recorded running; the run's id."""
    env_repo.initial()
    context = multiprocessing.get_context("spawn")
    args = (url, str(key_path), str(env_repo.remote_dir), str(env_repo.cache_dir / "engine"))
    engine = context.Process(target=reconcile_until_killed, args=args, daemon=True)
    engine.start()
    try:
        deadline = time.monotonic() + 90
        while not running_runs(store):
            assert engine.is_alive(), f"the engine exited early with {engine.exitcode}"
            assert time.monotonic() < deadline, "the engine never started its run"
            time.sleep(0.1)
    finally:
        engine.kill()
        engine.join(timeout=30)
    [run_id] = running_runs(store)
    return run_id


@pytest.mark.timeout(180)
def test_a_killed_engines_run_is_failed_once_its_lease_expired_and_only_then(
    database_url: str, tmp_path: Path, env_repo: EnvRepo
) -> None:
    key_path = tmp_path / "audit.pem"
    key = load_or_create_key(key_path)
    now = store_at(database_url, key, ahead=dt.timedelta(0))
    later = store_at(database_url, key, ahead=LEASE_TTL + dt.timedelta(minutes=1))
    try:
        run_id = kill_engine_mid_apply(database_url, key_path, env_repo, now)
        lease = now.leases.current(environment_lease_name("acme", "prod"))
        assert lease is not None
        assert lease.holder == "engine-killed"

        # While the dead engine's lease has not expired, nothing tells it from a slow one.
        assert sweep_abandoned_runs(now) == []
        assert now.runs.get(run_id).status is RunStatus.RUNNING

        [swept] = sweep_abandoned_runs(later)
        assert sweep_abandoned_runs(later) == []
    finally:
        later.close()

    assert swept.id == run_id
    stored = now.runs.get(run_id)
    now.close()
    assert stored.status is RunStatus.FAILED
    assert stored.error is not None
    assert stored.error.startswith("abandoned: the engine holding lease 'env:acme/prod'")
    database = open_database(database_url)
    try:
        reports = verify_chains(database, public_key=key.public)
    finally:
        database.dispose()
    assert reports
    assert all(report.ok for report in reports)


@pytest.mark.timeout(30)
def test_the_sweeping_thread_fails_an_abandoned_run_and_stops_when_asked(store: Store) -> None:
    environment_id = store.catalog.environment("acme", "prod")
    lease = store.leases.acquire(
        environment_lease_name("acme", "prod"), holder="gone", ttl=LEASE_TTL
    )
    assert lease is not None
    queued = store.runs.queue(environment_id=environment_id, commit="c0ffee")
    store.runs.move(queued.id, RunStatus.RUNNING, lease=lease)
    store.leases.release(lease)  # released without finishing: the engine crashed in between
    stop = threading.Event()

    thread = start_sweeping(store, stop, interval=0.05)
    deadline = time.monotonic() + 20
    while store.runs.get(queued.id).status is RunStatus.RUNNING:
        assert time.monotonic() < deadline, "the sweeping thread never swept"
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert store.runs.get(queued.id).status is RunStatus.FAILED


def test_a_sweep_or_a_prune_on_an_unreachable_database_is_skipped_not_raised(
    tmp_path: Path, key: SigningKey
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'missing' / 'rxt.db'}")
    store = build_store(database, key=key)
    try:
        assert sweep_abandoned_runs(store) == []
        assert prune_preview_ledger(store, retain=dt.timedelta(days=1)) == Pruned()
    finally:
        store.close()


def _old_preview(store: Store, *, days: int) -> None:
    store.previews.record(
        StoredPreview(
            "acme", "prod", "acme/envs", 42, "a" * 40, "sha256:p", "d", "o", "p",
            recorded_at=utc_now() - dt.timedelta(days=days),
        )
    )  # fmt: skip


@pytest.mark.timeout(30)
def test_the_sweeping_thread_prunes_the_preview_ledger_past_its_retention(store: Store) -> None:
    _old_preview(store, days=100)
    stop = threading.Event()

    thread = start_sweeping(store, stop, interval=0.05, retain_previews=dt.timedelta(days=90))
    deadline = time.monotonic() + 20
    while store.previews.with_heads("acme", "prod", ["a" * 40]):
        assert time.monotonic() < deadline, "the sweeping thread never pruned"
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)

    assert not thread.is_alive()


def test_a_preview_within_its_retention_is_kept(store: Store) -> None:
    _old_preview(store, days=30)
    assert prune_preview_ledger(store, retain=dt.timedelta(days=90)) == Pruned()
    assert len(store.previews.with_heads("acme", "prod", ["a" * 40])) == 1


@pytest.mark.parametrize(
    ("days", "kept"), [(None, dt.timedelta(days=90)), (7, dt.timedelta(days=7)), (0, None)]
)
def test_the_configuration_sets_how_long_the_preview_ledger_keeps_its_rows(
    store: Store, tmp_path: Path, days: int | None, kept: dt.timedelta | None
) -> None:
    document: dict[str, Any] = {"cache_dir": str(tmp_path)}
    if days is not None:
        document["preview_retention_days"] = days
    engine = Engine.from_config(parse_config(document), store)
    assert engine.settings.preview_retention == kept


def test_a_negative_preview_retention_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preview_retention_days"):
        parse_config({"cache_dir": str(tmp_path), "preview_retention_days": -1})
