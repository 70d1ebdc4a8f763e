"""Open the state store in one call: connect, migrate, load the signing key, build the parts.

The command line and the server call ``open_store`` with values from ``rxt.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from state.audit import AuditLog
from state.catalog import Catalog
from state.checkpoints import CheckpointPolicy, SigningKey, load_or_create_key
from state.database import Clock, Database, check_connection, open_database, utc_now
from state.leases import Leases
from state.migrating import upgrade
from state.outbox import Outbox
from state.previews import PreviewStore
from state.queue import WorkQueue
from state.runs import Runs


@dataclass(frozen=True)
class Store:
    """Every part of the state store, sharing one database and one clock."""

    database: Database
    key: SigningKey
    audit: AuditLog
    catalog: Catalog
    leases: Leases
    outbox: Outbox
    previews: PreviewStore
    queue: WorkQueue
    runs: Runs

    def close(self) -> None:
        self.database.dispose()


def open_store(
    url: str,
    *,
    key_path: Path,
    policy: CheckpointPolicy | None = None,
    clock: Clock = utc_now,
    migrate: bool = True,
) -> Store:
    """Connect to ``url``, bring its schema up to date, and load (or make) the signing key.

    Raises:
        ConfigError: the database cannot be reached, or the key file cannot be read.
    """
    database = open_database(url)
    check_connection(database)
    if migrate:
        upgrade(database)
    return build_store(database, key=load_or_create_key(key_path), policy=policy, clock=clock)


def build_store(
    database: Database,
    *,
    key: SigningKey,
    policy: CheckpointPolicy | None = None,
    clock: Clock = utc_now,
) -> Store:
    """The parts of the store on an open, migrated ``database``."""
    return Store(
        database=database,
        key=key,
        audit=AuditLog(database, key=key, policy=policy, clock=clock),
        catalog=Catalog(database, clock=clock),
        leases=Leases(database, clock=clock),
        outbox=Outbox(database, clock=clock),
        previews=PreviewStore(database, clock=clock),
        queue=WorkQueue(database, clock=clock),
        runs=Runs(database, clock=clock),
    )
