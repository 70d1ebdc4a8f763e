"""``rxt serve``: the HTTP API (webhooks, the tenant API, health, readiness, metrics), the
reconcile workers, the drift schedule, the adoption of repositories registered through the tenant
API and, with ``RXT_NATS_URL`` set, the outbox relay, in one process.

Webhooks enqueue into the state store's work queue; several processes may share one
PostgreSQL database (``RXT_DATABASE_URL``).
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn
import yaml

from core.errors import ConfigError, RxtError
from core.logs import configure, get_logger, register_secret
from reconciler.relaying import RelaySettings
from reconciler.webhooks import Repository
from reconciler.wiring.config import EngineConfig, load_config
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import Engine
from reconciler.wiring.registered import RegistrationRefresher
from rxt.api import create_app
from rxt.api.access import TenantServices, print_operator_token
from rxt.api.metrics import Metrics
from rxt.api.serving import server_config
from rxt.api.urls import GuardedTransport, UrlPolicy
from rxt.commands.db import open_configured_store
from rxt.settings import Settings
from state.database import check_connection

log = get_logger()

HELP = (
    "Run the engine: the HTTP API (POST /webhooks/github and /webhooks/gitlab, /healthz, "
    "/readyz, /metrics, OpenAPI docs at /docs), the reconcile workers and the drift schedule.\n\n"
    "Repositories, environments and platform connections come from --config (see "
    "docs/reconciler.md). A verified push is queued in the state store and applied by a worker; "
    "a pull request is planned as a preview (never applied) and, with a forge configured, posted "
    "on it as a sticky comment and a commit status; the push of its merge is applied only if "
    "its plan is the previewed one, otherwise held for approval (forge.on_stale_merge). "
    "Approving a plan through the API queues its reconcile. Runs a killed engine left running "
    "are failed once their lease is gone. The tenant API is served under /api/v1; "
    "the operator token is printed on the first start only. Repositories registered through "
    "the tenant API are adopted at start, after each registration and every "
    "registrations_refresh_seconds (default 30; 0 turns adoption off), their webhook secret and "
    "Git token read from Vault under the tenant's mount. With RXT_NATS_URL set, outbox events "
    "are relayed to NATS JetStream. Webhook secrets come from the configuration, from "
    "--webhook-secrets and, for registered repositories, from Vault."
)


class FileSecrets:
    """Webhook secrets per repository (``owner/name``) read from a YAML mapping."""

    def __init__(self, secrets: dict[str, tuple[str, ...]]) -> None:
        self._secrets = secrets

    @classmethod
    def load(cls, path: Path | None) -> FileSecrets:
        """Read ``path``: ``owner/name: secret`` or ``owner/name: [new, old]`` per line.

        Raises:
            ConfigError: the file is missing or not such a mapping.
        """
        if path is None:
            return cls({})
        hint = "write one 'owner/name: secret' (or a list of secrets) per repository"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(
                f"{path}: cannot read the webhook secrets: {error}", hint=hint
            ) from error
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the webhook secrets must be a mapping", hint=hint)
        secrets = {str(repo): _as_tuple(value) for repo, value in data.items()}
        for values in secrets.values():
            for value in values:
                register_secret(value)
        return cls(secrets)

    def __call__(self, repository: Repository) -> Sequence[str]:
        return self._secrets.get(repository.full_name, ())


def _as_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


class Secrets:
    """Webhook secrets from the secrets file and from the engine's configured repositories."""

    def __init__(self, files: FileSecrets, engine: Engine) -> None:
        self.files, self.engine = files, engine

    def __call__(self, repository: Repository) -> Sequence[str]:
        return (*self.files(repository), *self.engine.webhook_secrets(repository))


def _config(path: Path | None, settings: Settings) -> EngineConfig:
    if path is not None:
        return load_config(path)
    return EngineConfig(cache_dir=settings.data_dir / "mirrors")


def _keep_running_after_signals() -> None:
    """uvicorn stops serving on SIGTERM or SIGINT and then raises the signal again for the
    handler in place before it; with this one in place the process goes on to stop the
    workers (each finishes its item) and the relay, and exits 0."""

    def noted(signum: int, _frame: FrameType | None) -> None:
        log.info("serve.stopping", signal=signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, noted)


def guard_registered_traffic(
    engine: Engine, refresher: RegistrationRefresher | None, urls: UrlPolicy
) -> None:
    """Hold what the engine sends to URLs a tenant registered to ``urls``, the rules the
    registration passed: each notification URL and forge API URL is checked again before each
    use (its name may resolve somewhere private by now), and the requests connect only to the
    addresses that check resolved, so a DNS answer changing in between gains nothing."""
    guarded = partial(GuardedTransport, urls)
    engine.notifier.check = partial(urls.check, what="notification URL")
    engine.notifier.guarded = guarded
    if refresher is not None:
        refresher.url_check = partial(urls.check, what="forge API URL")
        refresher.guarded = guarded


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean it.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    config: Annotated[
        Path | None, typer.Option(help="The engine configuration (YAML): repositories, sites.")
    ] = None,
    webhook_secrets: Annotated[
        Path | None,
        typer.Option(help="YAML file mapping 'owner/name' to its webhook secret (or a list)."),
    ] = None,
) -> None:
    configure()
    settings = Settings()
    try:
        files = FileSecrets.load(webhook_secrets)
        engine_config = _config(config, settings)
        store = open_configured_store(settings)
    except RxtError as error:
        typer.echo(f"error: {error.render()}", err=True)
        raise typer.Exit(1) from error
    print_operator_token(store, typer.echo)
    metrics = Metrics()
    relay = RelaySettings(url=settings.nats_url) if settings.nats_url else None
    holder = f"{socket.gethostname()}:{os.getpid()}"
    try:
        engine = Engine.from_config(
            engine_config, store, metrics=metrics, holder=holder, relay=relay
        )
    except RxtError as error:
        store.close()
        typer.echo(f"error: {error.render()}", err=True)
        raise typer.Exit(1) from error
    metrics.watch_queue(engine.queue_depth)
    refresher = RegistrationRefresher.configured(engine, engine_config)
    tenant_api = TenantServices.configured(store, settings)
    guard_registered_traffic(engine, refresher, tenant_api.urls)
    if refresher is not None:
        tenant_api = replace(tenant_api, registered=refresher.wake)
    app = create_app(
        secrets=Secrets(files, engine),
        enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog),
        readiness={"database": lambda: check_connection(store.database)},
        metrics=metrics,
        tenant_api=tenant_api,
    )
    engine.start()
    # After the engine's start, which walks its targets: the refresher adds to them.
    if refresher is not None:
        refresher.start()
    log.info("serve.started", host=host, port=port, environments=len(engine.targets))
    _keep_running_after_signals()
    try:
        uvicorn.Server(server_config(app, host=host, port=port)).run()
    finally:
        if refresher is not None:
            refresher.stop()
        engine.stop()
        store.close()


def register(app: typer.Typer) -> None:
    """Add ``rxt serve`` to the command line."""
    app.command("serve", help=HELP)(serve)
