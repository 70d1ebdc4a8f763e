"""Migration 0005 on SQLite and PostgreSQL: a registration stored before it keeps its row and
reads back with no forge of its own; downgrading drops only the forge column."""

from __future__ import annotations

from sqlalchemy import text

from state.database import Database
from state.migrating import head_revision, upgrade
from state.registrations import registered_repositories
from tests.state.migration_rows import (
    REPOSITORY_URL,
    STORED_AT,
    columns,
    downgrade,
    insert_repository,
)

TABLE = "repository_registrations"


def test_a_registration_stored_before_0005_survives_it_with_no_forge(database: Database) -> None:
    downgrade(database, "0004")
    try:
        assert "forge" not in columns(database, TABLE)
        with database.engine.begin() as connection:
            insert_repository(connection)
            connection.execute(
                text(f"INSERT INTO {TABLE} (id, repository_id, webhook_secret_ref, "
                     "environment_paths, registered_by, registered_at) "
                     "VALUES (1, 1, :hook, :paths, 'token:1', :at)"),
                {"hook": '{"path": "ci/hook", "key": "secret"}',
                 "paths": '{"prod": "environments/prod"}', "at": STORED_AT},
            )  # fmt: skip
    finally:
        assert upgrade(database) == head_revision()
    [registered] = registered_repositories(database)
    assert (registered.tenant, registered.url, registered.forge) == ("acme", REPOSITORY_URL, None)
    assert registered.environments == {"prod": "environments/prod"}
    assert registered.webhook_secret_ref.path == "ci/hook"


def test_downgrading_0005_drops_only_the_forge_column(database: Database) -> None:
    before = columns(database, TABLE)
    downgrade(database, "0004")
    try:
        assert columns(database, TABLE) == before - {"forge"}
    finally:
        upgrade(database)
