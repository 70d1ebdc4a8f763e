"""Alembic's entry point: migrate the connection ``state.migrating`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from state.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations (SQL scripts) are not supported; use `rxt db upgrade`")
_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("run migrations through state.migrating.upgrade, which passes a connection")
_run(_connection)
