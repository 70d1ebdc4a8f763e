"""Migration 0005 on SQLite and PostgreSQL: a registration stored before it keeps its row and
reads back with no forge of its own; downgrading drops only the forge column."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, text

from state.database import Database
from state.migrating import alembic_config, head_revision, upgrade
from state.registrations import registered_repositories

_NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def _downgrade(database: Database, revision: str) -> None:
    with database.engine.connect() as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def _columns(database: Database) -> set[str]:
    return {c["name"] for c in inspect(database.engine).get_columns("repository_registrations")}


def _store_a_registration(database: Database) -> None:
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
            text("INSERT INTO repository_registrations (id, repository_id, webhook_secret_ref, "
                 "credentials_ref, notify_url, environment_paths, registered_by, registered_at) "
                 "VALUES (1, 1, :hook, NULL, NULL, :paths, 'token:1', :at)"),
            {"hook": '{"path": "ci/hook", "key": "secret"}',
             "paths": '{"prod": "environments/prod"}', "at": _NOW},
        )  # fmt: skip


def test_a_registration_stored_before_0005_survives_it_with_no_forge(database: Database) -> None:
    _downgrade(database, "0004")
    try:
        assert "forge" not in _columns(database)
        _store_a_registration(database)
    finally:
        assert upgrade(database) == head_revision()
    [registered] = registered_repositories(database)
    assert (registered.tenant, registered.url, registered.forge) == (
        "acme", "https://git.example.com/acme/e.git", None,
    )  # fmt: skip
    assert registered.environments == {"prod": "environments/prod"}
    assert registered.webhook_secret_ref.path == "ci/hook"


def test_downgrading_0005_drops_only_the_forge_column(database: Database) -> None:
    before = _columns(database)
    _downgrade(database, "0004")
    try:
        assert _columns(database) == before - {"forge"}
    finally:
        upgrade(database)
