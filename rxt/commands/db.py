"""``rxt db``: bring the state database's schema up to date, and show where it stands.

Also opens the configured store for the other command groups (``open_configured_store``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from core.errors import RxtError
from rxt.settings import Settings
from state.checkpoints import CheckpointPolicy
from state.database import check_connection, open_database
from state.migrating import current_revision, head_revision, upgrade
from state.store import Store, open_store

app = typer.Typer(help="The state database: migrations.", no_args_is_help=True)


def open_configured_store(settings: Settings | None = None) -> Store:
    """Open the store the settings name, migrating it and making the key on first start."""
    settings = settings or Settings()
    policy = CheckpointPolicy(
        every_entries=settings.checkpoint_every_entries,
        every_seconds=settings.checkpoint_every_seconds,
    )
    return open_store(settings.database_url, key_path=settings.signing_key_path, policy=policy)


def fail(error: RxtError) -> typer.Exit:
    """Print ``error`` for a person and return the exit to raise (code 1)."""
    typer.echo(f"error: {error.render()}", err=True)
    return typer.Exit(1)


@app.command("upgrade")
def upgrade_command(
    revision: Annotated[str, typer.Argument(help="Migration to reach.")] = "head",
) -> None:
    """Apply the migrations the database lacks (the engine also does this on start)."""
    settings = Settings()
    try:
        database = open_database(settings.database_url)
        check_connection(database)
        reached = upgrade(database, revision=revision)
    except RxtError as error:
        raise fail(error) from error
    database.dispose()
    shown = database.engine.url.render_as_string(hide_password=True)
    typer.echo(f"{shown}: at migration {reached}")


@app.command("current")
def current_command() -> None:
    """Print the migration the database is at and the newest one this version ships."""
    settings = Settings()
    try:
        database = open_database(settings.database_url)
        check_connection(database)
        current = current_revision(database)
    except RxtError as error:
        raise fail(error) from error
    database.dispose()
    typer.echo(f"current: {current or 'none (never migrated)'}")
    typer.echo(f"newest:  {head_revision()}")


def register(root: typer.Typer) -> None:
    """Add ``rxt db`` to the command line."""
    root.add_typer(app, name="db")
