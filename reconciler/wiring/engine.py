"""The engine: webhooks enqueue into the state store's work queue, workers reconcile, check
drift and preview (posting to the configured forge), the drift schedule enqueues checks, and
the relay publishes the outbox.

``rxt serve`` builds one ``Engine`` (``Engine.from_config``) next to the HTTP API and starts
and stops it with the process; tests build one from parts.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError, ManifestError, RxtError
from core.logs import get_logger
from planner.plans import Plan
from reconciler import history
from reconciler.drifting import DriftChecker
from reconciler.intake import Delivery
from reconciler.merging import MergeSettler
from reconciler.metering import LoopMetrics, NoMetrics
from reconciler.mirrors import RepositoryMirror, TokenAuth
from reconciler.notifying import Notifier, outcome_message
from reconciler.polling import Poller
from reconciler.previews import ReviewHead, StoredLedger
from reconciler.reconciling import Fence, Options, Reconciler, Result, Target
from reconciler.relaying import NatsRelay, RelaySettings, start_relay
from reconciler.scheduling import DriftSchedule, interval_seconds
from reconciler.sites import Sites
from reconciler.sweeping import start_sweeping, sweep_abandoned_runs
from reconciler.webhooks import Ping, Push, Repository, ReviewRequest
from reconciler.wiring.config import EngineConfig
from reconciler.wiring.connections import close_all, connect
from reconciler.wiring.reviews import ForgeAccess, Forges, PostedPreviews
from reconciler.workers import DRIFT, PREVIEW, RECONCILE, Worker, WorkerOptions, item_key
from state.store import Store

log = get_logger()

# Pull and merge request heads, so a preview can plan a head pushed to a fork.
REVIEW_REFSPECS = (
    "+refs/pull/*/head:refs/pull/*/head",
    "+refs/merge-requests/*/head:refs/merge-requests/*/head",
)
_PREVIEW_ACTIONS = frozenset({"opened", "synchronize", "reopened", "open", "update", "reopen"})


@dataclass(frozen=True)
class Source:
    """One repository the engine follows: its mirror and the environments it holds."""

    name: str
    mirror: RepositoryMirror
    tenant: str
    environments: tuple[str, ...]
    branch: str = "main"
    webhook_secrets: tuple[str, ...] = ()
    poll_seconds: float = 0.0
    fence: Fence | None = None
    notify: tuple[str, ...] = ()


@dataclass
class EngineSettings:
    workers: int = 2
    options: Options = field(default_factory=Options)
    worker: WorkerOptions = field(default_factory=WorkerOptions)
    notify: Sequence[str] = ()
    drift_schedule: bool = True
    relay: RelaySettings | None = None
    forge: ForgeAccess | None = None
    # Repository name -> its own forge, overriding ``forge`` for that repository's previews.
    forges: Mapping[str, ForgeAccess] = field(default_factory=dict)
    # How long the preview ledger keeps its rows (``prune_preview_ledger``); None: for ever.
    preview_retention: dt.timedelta | None = dt.timedelta(days=90)


class Engine:
    """Every moving part of one engine process, started and stopped together."""

    def __init__(
        self,
        store: Store,
        sites: Sites,
        sources: Sequence[Source],
        *,
        settings: EngineSettings | None = None,
        metrics: LoopMetrics | None = None,
    ) -> None:
        self.store = store
        self.sites = sites
        self.settings = settings or EngineSettings()
        self.metrics = metrics or NoMetrics()
        self.notifier = Notifier(store.catalog, urls=list(self.settings.notify))
        self.sources: dict[str, Source] = {}
        self.targets: dict[str, Target] = {}
        for source in sources:
            self.add_source(source)
        opts = self.settings.options
        self.reconciler = Reconciler(store, sites, options=opts, metrics=self.metrics)
        self.checker = DriftChecker(
            self.reconciler, notifier=self.notifier, metrics=self.metrics, holder=opts.holder
        )
        self.schedule = DriftSchedule(self.enqueue_drift)
        self.forges = Forges(self.settings.forge, dict(self.settings.forges))
        # Built even with no forge yet: a registration may name one while the engine runs, and
        # ``handle_preview`` asks ``forges`` per review whether to post.
        self.previews = PostedPreviews(
            self.forges, sites=sites, ledger=StoredLedger(store.previews)
        )
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_config(
        cls,
        config: EngineConfig,
        store: Store,
        *,
        metrics: LoopMetrics | None = None,
        holder: str = "rxt-engine",
        relay: RelaySettings | None = None,
    ) -> Engine:
        """Build mirrors and drivers from the configuration file's values."""
        sources = []
        for repo in config.repositories:
            credentials = TokenAuth(repo.token) if repo.token else None
            mirror = RepositoryMirror(
                repo.url, cache_dir=config.cache_dir, credentials=credentials,
                extra_refspecs=REVIEW_REFSPECS,
            )  # fmt: skip
            sources.append(
                Source(repo.name, mirror, repo.tenant, tuple(repo.environments), repo.branch,
                       tuple(repo.webhook_secrets), repo.poll_seconds)
            )  # fmt: skip
        settings = EngineSettings(
            workers=config.workers, options=Options(holder=holder), notify=config.notify,
            drift_schedule=config.drift_schedule, relay=relay,
            forge=ForgeAccess.configured(config.forge),
            forges={r.name: own for r in config.repositories
                    if (own := ForgeAccess.configured(r.forge)) is not None},
            preview_retention=dt.timedelta(days=config.preview_retention_days)
            if config.preview_retention_days else None,
        )  # fmt: skip
        return cls(store, connect(config), sources, settings=settings, metrics=metrics)

    def add_source(self, source: Source) -> None:
        """Follow ``source`` and its environments from now on; a source of the same name is
        replaced. Workers look targets up per item, so a running engine picks it up at once."""
        self.sources[source.name] = source
        for env in source.environments:
            target = Target(
                source.tenant, env, source.mirror, source.mirror.url, source.branch, source.fence
            )
            self.targets[item_key(source.tenant, env)] = target
            if source.notify:
                self.notifier.route(item_key(source.tenant, env), source.notify)

    def remove_source(self, name: str) -> Source | None:
        """Stop following the source ``name``: its targets, drift schedules and notification
        routes go, so its webhooks are refused as unknown and its queued work fails as not
        configured, and a forge a registration gave it is forgotten. Nothing on the platforms is
        touched. Returns the source, if it was followed."""
        source = self.sources.pop(name, None)
        if source is None:
            return None
        self.forges.set(name, None)
        for env in source.environments:
            key = item_key(source.tenant, env)
            self.targets.pop(key, None)
            self.schedule.remove(key)
            self.notifier.routes.pop(key, None)
        return source

    # -- intake ---------------------------------------------------------------------------------

    def webhook_secrets(self, repository: Repository) -> Sequence[str]:
        """The secrets registered for a repository named by a webhook."""
        source = self.sources.get(repository.full_name)
        return source.webhook_secrets if source else ()

    def enqueue(self, delivery: Delivery) -> None:
        """Turn a verified delivery into work items; never does the work itself."""
        event = delivery.event
        source = self.sources.get(event.repository.full_name)
        if source is None or isinstance(event, Ping):
            return
        if isinstance(event, Push) and event.ref == f"refs/heads/{source.branch}":
            pushed = {"commit": event.after, "delivery": delivery.delivery_id, "trigger": "push"}
            self._enqueue_all(source, RECONCILE, pushed)
        elif isinstance(event, ReviewRequest) and event.merged and event.merge_commit:
            # Remembered for the push that follows: a squash merge's commit names no review.
            self.store.previews.record_merge(
                source.tenant, repository=source.name, number=event.number,
                merge_commit=event.merge_commit,
            )  # fmt: skip
        elif isinstance(event, ReviewRequest) and event.action in _PREVIEW_ACTIONS:
            review = {"commit": event.head_sha, "review": event.number,
                      "repository": source.name, "base_ref": event.base_ref}  # fmt: skip
            if self.forges.of(source.name) is None:
                self._enqueue_all(source, PREVIEW, review)
            else:
                # One item per review: the previewer covers every environment the review touches.
                key = item_key(source.tenant, source.environments[0])
                self.store.queue.enqueue(PREVIEW, key=key, payload=review)

    def _enqueue_all(self, source: Source, kind: str, payload: Mapping[str, Any]) -> None:
        for env in source.environments:
            self.store.queue.enqueue(kind, key=item_key(source.tenant, env), payload=payload)

    def enqueue_drift(self, key: str) -> None:
        """The drift job: queue a check unless one for ``key`` is already waiting or running."""
        if history.pending(self.store.database, kind=DRIFT, key=key):
            log.info("drift.coalesced", environment=key)
            return
        self.store.queue.enqueue(DRIFT, key=key)

    # -- work -----------------------------------------------------------------------------------

    def handle_reconcile(self, target: Target, payload: Mapping[str, Any]) -> Result:
        commit = self.head_commit(target, str(payload.get("commit", "")))
        result = self.reconciler.reconcile(
            target, commit, saved_plan=str(payload.get("plan_id", "")),
            trigger=str(payload.get("trigger", "push")), merge=self.merge_check(target),
        )  # fmt: skip
        self.results.append(result)
        self._notify(target, commit, result)
        self.refresh_schedule(target, commit)
        return result

    def _notify(self, target: Target, commit: str, result: Result) -> None:
        said = outcome_message(target.name, commit, result)
        if said is not None:
            event, message = said
            self.notifier.notify(
                environment=target.name, revision=commit, event=event, message=message
            )

    def merge_check(self, target: Target) -> MergeSettler | None:
        """What settles a merged review's commit against its preview, for repositories whose
        previews are posted; None for the others (nothing was previewed there)."""
        source = self._source_of(target)
        forge = self.forges.of(source.name) if source is not None else None
        if forge is None:
            return None
        return MergeSettler(
            self.store.previews, graph=self._mirror(target), open_review=forge.open,
            on_stale=forge.on_stale_merge, repository=source.name if source else "",
        )  # fmt: skip

    def _source_of(self, target: Target) -> Source | None:
        # list(): the registration refresher may add a source on its own thread meanwhile.
        return next((s for s in list(self.sources.values()) if s.mirror is target.source), None)

    def handle_drift(self, target: Target, payload: Mapping[str, Any]) -> object:
        return self.checker.check(target)

    def handle_preview(self, target: Target, payload: Mapping[str, Any]) -> object:
        """Plan a review's head, never applying it; post it when a forge is configured."""
        commit = str(payload.get("commit", ""))
        self.fetch_commit(target, commit)
        repository = str(payload.get("repository", ""))
        if self.forges.of(repository) is None:
            return self.reconciler.preview(target, commit)
        mirror = self._mirror(target)
        base_ref = str(payload.get("base_ref", ""))
        base = (mirror.head(base_ref) or "") if base_ref else ""
        head = ReviewHead(repository, int(payload.get("review", 0)), commit, base)
        source = self._source_of(target)
        followed = source.environments if source is not None else (target.environment,)
        return self.previews.preview(
            target.tenant, mirror, head, followed=followed, fence=target.fence,
            record=lambda plan: self._record_preview(target, plan),
        )  # fmt: skip

    def _record_preview(self, queued: Target, plan: Plan) -> None:
        """Store a review's plan of one environment of ``queued``'s repository."""
        target = self.targets.get(item_key(queued.tenant, plan.environment))
        if target is None or target.source is not queued.source:
            # Only followed environments of this repository are previewed, so this cannot
            # happen unless the registration changed meanwhile: the plan is then posted only.
            log.warning("preview.unrecorded", tenant=queued.tenant, environment=plan.environment)
            return
        self.reconciler.record_preview(target, plan)

    def fetch_commit(self, target: Target, commit: str) -> None:
        """Fetch the repository unless its mirror already holds ``commit``."""
        mirror = self._mirror(target)
        try:
            mirror.tree_at(commit)
        except ConfigError:
            mirror.fetch()

    def head_commit(self, target: Target, wanted: str) -> str:
        """The commit to apply: the branch head, which supersedes an older pushed commit."""
        mirror = self._mirror(target)
        mirror.fetch()
        head = mirror.head(target.branch)
        if head is None:
            raise ConfigError(f"repository {mirror.url} has no branch {target.branch!r}")
        if wanted and wanted != head:
            log.info("reconcile.superseded", environment=target.name, pushed=wanted, head=head)
        return head

    def _mirror(self, target: Target) -> RepositoryMirror:
        if not isinstance(target.source, RepositoryMirror):
            raise ConfigError(f"environment {target.name} has no Git mirror")
        return target.source

    def refresh_schedule(self, target: Target, commit: str) -> None:
        """Follow the environment's ``drift.interval`` as of ``commit``."""
        if not self.settings.drift_schedule:
            return
        try:
            view = self.reconciler.load(target, commit)
            seconds = interval_seconds(view.environment.spec.drift.interval)
        except (ManifestError, ConfigError) as error:
            log.warning("drift_schedule.unreadable", environment=target.name, error=error.message)
            return
        self.schedule.set(item_key(target.tenant, target.environment), seconds)

    def worker(self, name: str) -> Worker:
        handlers = {
            RECONCILE: self.handle_reconcile,
            DRIFT: self.handle_drift,
            PREVIEW: self.handle_preview,
        }
        return Worker(
            self.store.queue, name=name, targets=self.targets.get, handlers=handlers,
            options=self.settings.worker,
        )  # fmt: skip

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Fail runs a stopped engine left running, fetch every repository, schedule drift
        checks, start workers, the relay and the periodic sweep of abandoned runs."""
        sweep_abandoned_runs(self.store)
        for key, target in list(self.targets.items()):
            try:
                head = self.head_commit(target, "")
            except RxtError as error:
                log.warning("engine.source_unavailable", environment=key, error=error.message)
                continue
            self.refresh_schedule(target, head)
        if self.settings.drift_schedule:
            self.schedule.start()
        if not self.forges.configured():
            log.info("previews.unposted", reason="no forge is configured; previews are stored only")
        holder = self.settings.options.holder
        for index in range(self.settings.workers):
            worker = self.worker(f"{holder}/w{index}")
            thread = threading.Thread(target=worker.run, args=(self._stop,), name=worker.name)
            thread.start()
            self._threads.append(thread)
        if self.settings.relay is not None:
            relay = NatsRelay(self.store.outbox, self.settings.relay)
            self._threads.append(start_relay(relay, self._stop))
        self._threads.append(
            start_sweeping(self.store, self._stop, retain_previews=self.settings.preview_retention)
        )
        polled = [source for source in self.sources.values() if source.poll_seconds > 0]
        if polled:
            thread = threading.Thread(target=self._poll, args=(polled,), name="rxt-poll")
            thread.start()
            self._threads.append(thread)
        log.info("engine.started", environments=len(self.targets), workers=self.settings.workers)

    def _poll(self, sources: Sequence[Source]) -> None:
        """Poll repositories without webhooks; a moved branch is queued like a push."""
        pollers: list[tuple[Poller, Source]] = []
        for source in sources:
            poller = Poller(interval=source.poll_seconds, clock=time.monotonic, rand=random.random)
            poller.watch(
                source.mirror, branch=source.branch, last=source.mirror.head(source.branch)
            )
            pollers.append((poller, source))
        while not self._stop.is_set():
            for poller, source in pollers:
                for moved in poller.poll_due():
                    self._enqueue_all(source, RECONCILE, {"commit": moved.after, "trigger": "push"})
            self._stop.wait(1.0)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop scheduling, let each worker finish its item, then close the drivers."""
        self._stop.set()
        self.schedule.stop()
        for thread in self._threads:
            thread.join(timeout=timeout)
        close_all(self.sites)
        log.info("engine.stopped")

    def queue_depth(self) -> float:
        return float(history.queue_depth(self.store.database))
