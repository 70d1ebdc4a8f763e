"""The engine with the fake world: a signed push through the HTTP API lands in the state work
queue, a worker applies it; replays queue nothing; items fail, retry and stop as they should;
drift checks are scheduled, coalesced and never overlap."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.errors import ConfigError, TransientError
from drivers.fake import FakeWorld
from reconciler import history
from reconciler.intake import Delivery
from reconciler.leasing import EnvironmentBusy
from reconciler.mirrors import RepositoryMirror
from reconciler.notifying import outcome_message
from reconciler.reconciling import Result
from reconciler.scheduling import DriftSchedule, interval_seconds, jitter_for
from reconciler.webhooks import identify, parse_event
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import REVIEW_REFSPECS, Engine, EngineSettings, Source
from reconciler.workers import DRIFT, RECONCILE, Worker, WorkerOptions
from rxt.api import create_app
from rxt.api.metrics import Metrics
from rxt.api.serving import running_in_thread
from state.models import Plan as PlanRow
from state.models import RunStatus, WorkStatus
from state.store import Store
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.chat import chat_server
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import DB, EnvRepo, web_yaml
from tests.reconciler.gitrepos import commit, nest


@pytest.fixture
def engine(store: Store, world: FakeWorld, env_repo: EnvRepo) -> Iterator[Engine]:
    source = Source(
        "acme/env-repo", env_repo.mirror, "acme", ("prod",), webhook_secrets=(payloads.SECRET,)
    )
    made = Engine(
        store, fake_sites(world), [source],
        settings=EngineSettings(workers=1, drift_schedule=False), metrics=Metrics(),
    )  # fmt: skip
    yield made
    made.stop()


def worker(engine: Engine) -> Worker:
    return engine.worker("test-worker")


def test_a_signed_push_is_queued_in_the_store_and_a_worker_applies_it(
    engine: Engine, env_repo: EnvRepo, world: FakeWorld, store: Store
) -> None:
    head = env_repo.initial()
    metrics = engine.metrics
    assert isinstance(metrics, Metrics)
    metrics.watch_queue(engine.queue_depth)
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog), metrics=metrics,
    )  # fmt: skip
    signed = payloads.github("push", payloads.github_push(after=head))
    with running_in_thread(app, port=free_port()) as url:
        first = httpx.post(f"{url}/webhooks/github", content=signed.body, headers=signed.headers)
        again = httpx.post(f"{url}/webhooks/github", content=signed.body, headers=signed.headers)
        assert (first.status_code, again.status_code) == (202, 200)
        assert "rxt_workqueue_depth 1.0" in httpx.get(f"{url}/metrics").text
        assert worker(engine).step()
        text = httpx.get(f"{url}/metrics").text
    assert not worker(engine).step()
    assert [r.status for r in engine.results] == ["succeeded"]
    assert world.writes > 0
    assert 'rxt_reconcile_total{environment="acme/prod",outcome="succeeded"} 1.0' in text
    assert "rxt_workqueue_depth 0.0" in text


def test_a_push_of_an_older_commit_applies_the_branch_head(
    engine: Engine, env_repo: EnvRepo, store: Store
) -> None:
    old = env_repo.initial()
    new = env_repo.push({"apps/web/deploy.yaml": None})
    store.queue.enqueue(RECONCILE, key="acme/prod", payload={"commit": old})
    assert worker(engine).step()
    assert engine.results[0].status == "succeeded"
    assert history.last_applied_commit(store.database, 1) == new


@pytest.mark.parametrize(
    ("error", "tries", "status"),
    [
        (EnvironmentBusy("busy"), 1, WorkStatus.READY),
        (TransientError("vCenter overloaded"), 2, WorkStatus.READY),
        (TransientError("vCenter overloaded"), 3, WorkStatus.FAILED),
        (ConfigError("no such site"), 1, WorkStatus.FAILED),
    ],
)
def test_a_failed_item_is_retried_later_only_when_retrying_can_help(
    engine: Engine, store: Store, error: Exception, tries: int, status: WorkStatus
) -> None:
    def fail(target: object, payload: object) -> None:
        raise error

    item = store.queue.enqueue(DRIFT, key="acme/prod")
    work = Worker(
        store.queue, name="w", targets=engine.targets.get, handlers={DRIFT: fail},
        options=WorkerOptions(attempts=3),
    )  # fmt: skip
    now = [dt.datetime.now(dt.UTC)]
    store.queue.clock = lambda: now[0]
    for _ in range(tries):
        now[0] += dt.timedelta(days=1)  # past any retry time: no sleeping
        assert work.step()
    assert store.queue.status(item) is status


def test_an_item_for_an_environment_not_configured_fails_for_good(
    engine: Engine, store: Store
) -> None:
    item = store.queue.enqueue(RECONCILE, key="acme/unknown", payload={})
    assert worker(engine).step()
    assert store.queue.status(item) is WorkStatus.FAILED


def test_a_stopped_worker_finishes_and_returns(engine: Engine) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker(engine).run, args=(stop,))
    thread.start()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_drift_job_queues_one_check_however_often_it_fires(engine: Engine, store: Store) -> None:
    for _ in range(3):
        engine.enqueue_drift("acme/prod")
    assert history.pending(store.database, kind=DRIFT, key="acme/prod") == 1


def test_the_drift_schedule_follows_the_environment_interval(
    engine: Engine, env_repo: EnvRepo
) -> None:
    engine.settings.drift_schedule = True
    engine.schedule.start()
    head = env_repo.initial(interval="90s")
    engine.refresh_schedule(engine.targets["acme/prod"], head)
    assert engine.schedule.intervals == {"acme/prod": 90.0}
    job = engine.schedule.scheduler.get_job("acme/prod")
    assert (job.max_instances, job.coalesce) == (1, True)
    engine.refresh_schedule(engine.targets["acme/prod"], env_repo.initial(interval="0"))
    assert engine.schedule.jobs() == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("0", 0.0)]
)
def test_drift_intervals_read_as_seconds(text: str, seconds: float) -> None:
    assert interval_seconds(text) == seconds


def test_a_drift_job_slower_than_its_interval_never_runs_twice_at_once() -> None:
    running, peak, runs = [0], [0], [0]
    lock, done = threading.Lock(), threading.Event()
    release = threading.Event()

    def slow(key: str) -> None:
        with lock:
            running[0] += 1
            runs[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(timeout=5)  # held until the scheduler has fired again meanwhile
        with lock:
            running[0] -= 1
        done.set()

    schedule = DriftSchedule(slow, max_workers=4)
    schedule.start()
    try:
        schedule.set("acme/prod", 1, jitter=0)
        job = schedule.scheduler.get_job("acme/prod")
        for _ in range(3):  # fire it by hand while the first run is still going
            job.modify(next_run_time=dt.datetime.now(dt.UTC))
            schedule.scheduler.wakeup()
        release.set()
        assert done.wait(timeout=10)
    finally:
        schedule.stop()
    assert peak[0] == 1
    assert jitter_for(600) == 60


def test_a_repository_without_webhooks_is_polled_and_a_new_commit_queued(
    store: Store, world: FakeWorld, env_repo: EnvRepo
) -> None:
    env_repo.initial()
    source = Source("acme/env-repo", env_repo.mirror, "acme", ("prod",), poll_seconds=0.2)
    settings = EngineSettings(workers=0, drift_schedule=False)
    engine = Engine(store, fake_sites(world), [source], settings=settings)
    engine.start()
    try:
        pushed = env_repo.push({"apps/web/deploy.yaml": None})
        deadline = time.monotonic() + 20
        while not history.pending(store.database, kind=RECONCILE, key="acme/prod"):
            assert time.monotonic() < deadline, "the poller never queued the new commit"
            time.sleep(0.05)
    finally:
        engine.stop()
    [item] = store.queue.claim(worker="check")
    assert item.payload["commit"] == pushed


def test_a_pull_request_head_pushed_to_a_fork_is_fetched_and_planned_as_a_preview(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path
) -> None:
    env_repo.initial()
    head = commit(env_repo.remote, nest(dict(env_repo.files)), branch="pr")
    env_repo.remote.references.create("refs/pull/42/head", head)
    env_repo.remote.references.delete("refs/heads/pr")
    mirror = RepositoryMirror(
        f"file://{env_repo.remote_dir}", cache_dir=tmp_path / "review-cache",
        extra_refspecs=REVIEW_REFSPECS,
    )  # fmt: skip
    source = Source("acme/env-repo", mirror, "acme", ("prod",))
    engine = Engine(store, fake_sites(world), [source], settings=EngineSettings(workers=0))
    body = payloads.github_pull_request()
    body["pull_request"]["head"]["sha"] = head
    signed = payloads.github("pull_request", body)
    delivery = Delivery("github", "d-1", "pull_request",
                        parse_event("github", "pull_request", signed.body,
                                    identify("github", signed.body)), "x", 0.0)  # fmt: skip
    engine.enqueue(delivery)
    assert engine.worker("w").step()
    with store.database.read() as session:
        kinds = list(session.scalars(select(PlanRow.kind)))
    assert kinds == ["preview"]
    assert world.writes == 0


def test_an_engine_fails_at_start_the_runs_a_stopped_engine_left_running(
    engine: Engine, store: Store, env_repo: EnvRepo
) -> None:
    """A run whose engine released (or lost) its lease unfinished would read "running" for
    ever; the next engine marks it failed before its workers begin."""
    env_repo.initial()
    environment_id = store.catalog.environment("acme", "prod")
    lease = store.leases.acquire(
        "env:acme/prod", holder="killed-engine", ttl=dt.timedelta(minutes=5)
    )
    assert lease is not None
    queued = store.runs.queue(environment_id=environment_id, commit="c0ffee")
    run = store.runs.move(queued.id, RunStatus.RUNNING, lease=lease)
    store.leases.release(lease)

    engine.start()

    swept = store.runs.get(run.id)
    assert swept.status is RunStatus.FAILED
    assert swept.error is not None
    assert swept.error.startswith("abandoned:")


def test_rejected_manifests_and_held_changes_are_notified_once_each(
    store: Store, world: FakeWorld, env_repo: EnvRepo
) -> None:
    """Drift is not the only news: rejected manifests and changes waiting for a person are
    posted too, each once however often the same outcome repeats."""
    env_repo.initial()
    with chat_server() as (url, received):
        source = Source("acme/env-repo", env_repo.mirror, "acme", ("prod",))
        engine = Engine(
            store, fake_sites(world), [source],
            settings=EngineSettings(workers=1, drift_schedule=False, notify=[url]),
        )  # fmt: skip
        target = engine.targets["acme/prod"]
        assert engine.handle_reconcile(target, {}).status == "succeeded"  # nothing to say
        env_repo.push({"apps/web/deploy.yaml": "spec: [not, a, mapping"})
        engine.handle_reconcile(target, {})
        engine.handle_reconcile(target, {})
        env_repo.push({"apps/web/deploy.yaml": web_yaml(), DB: None})  # the VM's prune waits
        engine.handle_reconcile(target, {})
        engine.handle_reconcile(target, {})
        engine.stop()

    titles = [message["text"] for message in received]
    assert len(titles) == 2, titles
    assert titles[0].startswith("Manifests rejected in acme/prod at ")
    assert titles[1].endswith("wait for approval")
    approve = received[1]["blocks"][1]["text"]["text"]
    assert "POST /api/v1/plans/" in approve
    assert "/approvals" in approve


@pytest.mark.parametrize(
    ("result", "title"),
    [
        (Result("failed", "sha256:1", failed=("vsphere:VirtualMachine/f/db: boom",)),
         "Apply failed in acme/prod at 0123456789ab"),
        (Result("denied", "sha256:1", failed=("baseline/tls: off",)),
         "Policy denied the plan of acme/prod at 0123456789ab"),
        (Result("succeeded", "sha256:1", applied=3), None),
        (Result("unchanged", "sha256:1"), None),
    ],
)  # fmt: skip
def test_each_reconcile_outcome_says_what_it_should(result: Result, title: str | None) -> None:
    said = outcome_message("acme/prod", "0123456789abcdef", result)
    assert (said[1].title if said else None) == title
