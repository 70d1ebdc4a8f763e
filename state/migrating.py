"""Run the Alembic migrations kept inside the package, from Python; no alembic.ini needed.

Called on start (``state.store.open_store``) and by ``rxt db upgrade``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from state.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every replica that starts at once.
_UPGRADE_LOCK = 0x7278_7464_6200


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations are packaged with the state store")
    return head


def current_revision(database: Database) -> str | None:
    """The migration the database is at, or ``None`` when it was never migrated."""
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _upgrade_lock(connection: Connection) -> Iterator[None]:
    # Replicas starting together on PostgreSQL would race to create the same tables.
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _UPGRADE_LOCK})
    connection.commit()
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _UPGRADE_LOCK})
        connection.commit()


def upgrade(database: Database, *, revision: str = "head") -> str | None:
    """Migrate ``database`` to ``revision``; returns the revision it is at afterwards."""
    with database.engine.connect() as connection, _upgrade_lock(connection):
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
    return current_revision(database)
