"""Migration 0004 on SQLite and PostgreSQL: repositories and environments stored before it keep
their rows and are not removed; downgrading drops only the marks."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, text

from state.database import Database
from state.migrating import alembic_config, current_revision, head_revision, upgrade

_NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def _downgrade(database: Database, revision: str) -> None:
    with database.engine.connect() as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def _columns(database: Database, table: str) -> set[str]:
    return {column["name"] for column in inspect(database.engine).get_columns(table)}


def test_rows_stored_before_0004_survive_it_unremoved(database: Database) -> None:
    _downgrade(database, "0003")
    try:
        assert "removed_at" not in _columns(database, "repositories")
        with database.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', :at)"),
                {"at": _NOW},
            )
            connection.execute(
                text("INSERT INTO repositories (id, tenant_id, url, branch, created_at) "
                     "VALUES (1, 1, 'https://git.example.com/acme/e.git', 'main', :at)"),
                {"at": _NOW},
            )  # fmt: skip
            connection.execute(
                text("INSERT INTO environments (id, tenant_id, repository_id, name, created_at) "
                     "VALUES (1, 1, 1, 'prod', :at)"),
                {"at": _NOW},
            )  # fmt: skip
    finally:
        assert upgrade(database) == head_revision()
    assert current_revision(database) == head_revision()
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT r.url, r.removed_at, e.name, e.removed_at FROM repositories r "
                 "JOIN environments e ON e.repository_id = r.id")
        ).all()  # fmt: skip
    assert [tuple(row) for row in rows] == [("https://git.example.com/acme/e.git", None, "prod",
                                             None)]  # fmt: skip
    assert {"removed_at"} <= _columns(database, "environments")
