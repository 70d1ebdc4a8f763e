"""Fixtures of the state store's tests: both databases, a fake clock, a signing key.

PostgreSQL tests use a throwaway database on the local server, made once per test session (and
xdist worker) and dropped after; the server is started if it is not running.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from state.checkpoints import CheckpointPolicy, SigningKey
from state.database import Database, open_database
from state.migrating import upgrade
from state.models import Base
from state.store import Store, build_store

PG_HOST = "127.0.0.1"
PG_PORT = 5432
START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _admin_connect() -> psycopg.Connection:
    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname="test", user=user, autocommit=True
            )
        except psycopg.OperationalError as error:
            last = error
    raise RuntimeError(f"cannot connect to PostgreSQL on {PG_HOST}:{PG_PORT}: {last}")


def _ensure_server() -> psycopg.Connection:
    try:
        return _admin_connect()
    except RuntimeError:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=True,
            timeout=60,
        )
        return _admin_connect()


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A migrated throwaway PostgreSQL database for this session (or xdist worker)."""
    admin = _ensure_server()
    user = admin.info.user
    name = f"rxt_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    database = open_database(url)
    upgrade(database)
    database.dispose()
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy, which is faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "rxt.db"
    database = open_database(f"sqlite:///{path}")
    upgrade(database)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


def empty_postgres(url: str) -> Database:
    """The session's PostgreSQL database, emptied (the audit triggers are bypassed for it)."""
    database = open_database(url)
    # DELETE, not TRUNCATE: the tables are small, and TRUNCATE makes new files for each one.
    with database.engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated store on SQLite or on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "rxt.db")
        db = open_database(f"sqlite:///{tmp_path / 'rxt.db'}")
    else:
        db = empty_postgres(request.getfixturevalue("postgres_url"))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Database]:
    """An empty, migrated store on PostgreSQL only."""
    db = empty_postgres(postgres_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def store(database: Database, key: SigningKey, clock: FakeClock) -> Store:
    """Every part of the store on ``database``, with the fake clock; checkpoints every 10."""
    policy = CheckpointPolicy(every_entries=10, every_seconds=3600)
    return build_store(database, key=key, policy=policy, clock=clock)
