"""``rxt serve``: run the HTTP API (webhooks, health, readiness, metrics) under uvicorn.

Not wired yet: the reconcile workers, the scheduler and the state store's delivery table.
Verified deliveries are held in a bounded in-memory list and logged, and nothing acts on them.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
import yaml

from core.errors import ConfigError
from core.logs import configure, get_logger, register_secret
from reconciler.intake import Delivery
from reconciler.webhooks import Repository
from rxt.api import create_app
from rxt.api.serving import server_config

log = get_logger()

HELP = (
    "Run the HTTP API: POST /webhooks/github and /webhooks/gitlab, /healthz, /readyz, /metrics "
    "and the OpenAPI docs at /docs.\n\n"
    "NOT WIRED YET: the reconcile workers and the drift scheduler. Deliveries are verified, "
    "de-duplicated (in memory, per process) and acknowledged with 202, then only logged and "
    "held in memory: no plan or apply follows. Webhook secrets come from --webhook-secrets "
    "until repositories can be registered through the API."
)


class HeldDeliveries:
    """Keeps the latest verified deliveries in memory, since no worker consumes them yet."""

    def __init__(self, *, capacity: int = 1000) -> None:
        self.items: collections.deque[Delivery] = collections.deque(maxlen=capacity)

    def __call__(self, delivery: Delivery) -> None:
        self.items.append(delivery)
        log.info(
            "delivery.held",
            delivery=delivery.delivery_id,
            repository=delivery.event.repository.full_name,
            kind=delivery.event.kind,
            note="reconcile workers are not wired yet; nothing acts on this delivery",
        )

    def depth(self) -> float:
        return float(len(self.items))


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


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean it.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    webhook_secrets: Annotated[
        Path | None,
        typer.Option(help="YAML file mapping 'owner/name' to its webhook secret (or a list)."),
    ] = None,
) -> None:
    configure()
    try:
        secrets = FileSecrets.load(webhook_secrets)
    except ConfigError as error:
        typer.echo(f"error: {error.render()}", err=True)
        raise typer.Exit(1) from error
    held = HeldDeliveries()
    app = create_app(secrets=secrets, enqueue=held, queue_depth=held.depth)
    log.warning("serve.started", host=host, port=port, workers="not wired yet")
    uvicorn.Server(server_config(app, host=host, port=port)).run()


def register(app: typer.Typer) -> None:
    """Add ``rxt serve`` to the command line."""
    app.command("serve", help=HELP)(serve)
