"""Migration 0004 on SQLite and PostgreSQL: repositories and environments stored before it keep
their rows and are not removed; downgrading drops only the marks."""

from __future__ import annotations

from sqlalchemy import text

from state.database import Database
from state.migrating import current_revision, head_revision, upgrade
from tests.state.migration_rows import (
    REPOSITORY_URL,
    STORED_AT,
    columns,
    downgrade,
    insert_repository,
)


def test_rows_stored_before_0004_survive_it_unremoved(database: Database) -> None:
    downgrade(database, "0003")
    try:
        assert "removed_at" not in columns(database, "repositories")
        with database.engine.begin() as connection:
            insert_repository(connection)
            connection.execute(
                text("INSERT INTO environments (id, tenant_id, repository_id, name, created_at) "
                     "VALUES (1, 1, 1, 'prod', :at)"),
                {"at": STORED_AT},
            )  # fmt: skip
    finally:
        assert upgrade(database) == head_revision()
    assert current_revision(database) == head_revision()
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT r.url, r.removed_at, e.name, e.removed_at FROM repositories r "
                 "JOIN environments e ON e.repository_id = r.id")
        ).all()  # fmt: skip
    assert [tuple(row) for row in rows] == [(REPOSITORY_URL, None, "prod", None)]  # fmt: skip
    assert {"removed_at"} <= columns(database, "environments")


def test_downgrading_0004_drops_only_the_marks(database: Database) -> None:
    before = {table: columns(database, table) for table in ("repositories", "environments")}
    downgrade(database, "0003")
    try:
        for table, kept in before.items():
            assert columns(database, table) == kept - {"removed_at"}, table
    finally:
        upgrade(database)
