"""The packaged migrations against the models, and the append-only audit tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from state.audit import AuditLog, AuditRecord
from state.checkpoints import SigningKey
from state.database import Database, open_database
from state.migrating import current_revision, head_revision, upgrade
from state.models import Base


def test_migrations_produce_exactly_the_models_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_a_migrated_database_is_at_the_newest_revision_and_upgrading_again_is_a_no_op(
    database: Database,
) -> None:
    assert current_revision(database) == head_revision()
    assert upgrade(database) == head_revision()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_template: Path,
) -> None:
    database = open_database(f"sqlite:///{sqlite_template}")
    with database.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    database.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "synchronous": 1,
    }


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'someone else'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
        "UPDATE audit_checkpoints SET hash = repeat('0', 64)",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_postgresql_refuses_to_change_or_remove_audit_rows(
    postgres: Database, key: SigningKey, statement: str
) -> None:
    AuditLog(postgres, key=key).append("acme", AuditRecord("engine", "plan.applied", "env/prod"))
    with postgres.engine.connect() as connection, pytest.raises(DBAPIError) as refused:
        connection.execute(text(statement))
    assert "append-only" in str(refused.value)
