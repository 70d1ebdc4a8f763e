"""Helpers for the tests of one migration: step down to the revision before it and store rows
as the schema then had them, with plain SQL, so the models of the head are not involved."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import Connection, inspect, text

from state.database import Database
from state.migrating import alembic_config

STORED_AT = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
REPOSITORY_URL = "https://git.example.com/acme/e.git"


def downgrade(database: Database, revision: str) -> None:
    with database.engine.connect() as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def columns(database: Database, table: str) -> set[str]:
    return {column["name"] for column in inspect(database.engine).get_columns(table)}


def insert_repository(connection: Connection) -> None:
    """Tenant 1 ``acme`` and its repository 1 at ``REPOSITORY_URL``, branch main."""
    connection.execute(
        text("INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', :at)"),
        {"at": STORED_AT},
    )
    connection.execute(
        text("INSERT INTO repositories (id, tenant_id, url, branch, created_at) "
             "VALUES (1, 1, :url, 'main', :at)"),
        {"url": REPOSITORY_URL, "at": STORED_AT},
    )  # fmt: skip
