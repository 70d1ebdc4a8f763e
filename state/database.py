"""Engines and sessions for SQLite and PostgreSQL, with the settings each needs on every connect.

The command line and the server open one ``Database``; every store module takes a session from it.
Write transactions on SQLite begin with ``BEGIN IMMEDIATE`` so two writers never deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError

Clock = Callable[[], dt.datetime]
"""Returns the current time, aware and in UTC; tests inject a fake one instead of sleeping."""

# A writer waits this long for SQLite's write lock before giving up; applies are short.
SQLITE_BUSY_TIMEOUT_MS = 5000
_IMMEDIATE = "rxt_sqlite_immediate"


def utc_now() -> dt.datetime:
    """The real clock: now, in UTC."""
    return dt.datetime.now(dt.UTC)


def parse_url(url: str) -> URL:
    """Read a database URL, turning plain ``postgresql://`` into the psycopg 3 dialect."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(
            f"database URL {url!r} cannot be read",
            hint="use sqlite:///path/to/rxt.db or postgresql+psycopg://user@host/db",
        ) from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} uses an "
            f"unsupported driver {parsed.drivername!r}",
            hint="RXT Deploy stores state in SQLite or in PostgreSQL through psycopg 3",
        )
    return parsed


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would BEGIN lazily and DEFERRED; we issue BEGIN
    # ourselves (see _on_sqlite_begin) so that writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout on every connect."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


@dataclass(frozen=True)
class Database:
    """One store: its engine, a session factory for reads, and one for serialised writes."""

    engine: Engine
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end, nothing it does is kept."""
        with self.reads() as session:
            yield session
            session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.writes.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str, *, echo: bool = False) -> Database:
    """Connect to ``url`` (without migrating; see ``state.migrating.upgrade``)."""
    engine = create_store_engine(url, echo=echo)
    writer = engine.execution_options(**{_IMMEDIATE: True})
    return Database(
        engine=engine,
        reads=sessionmaker(engine, expire_on_commit=False),
        writes=sessionmaker(writer, expire_on_commit=False),
    )


def check_connection(database: Database) -> None:
    """Raise ``ConfigError`` naming the URL when the database cannot be reached."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        shown = database.engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"cannot connect to the state database {shown}: {error.orig}",
            hint="check RXT_DATABASE_URL and that the database server is running",
        ) from error
