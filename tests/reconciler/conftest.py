"""Fixtures of the reconciler's tests: a migrated store (SQLite, or the local PostgreSQL), an
environment repository in real Git, and the fake driver world or the simulators."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.fake import FakeWorld
from reconciler.reconciling import Options, Reconciler
from reconciler.sites import Sites
from state.checkpoints import CheckpointPolicy, SigningKey
from state.database import open_database
from state.store import Store, build_store
from tests.reconciler.envrepo import EnvRepo
from tests.state.conftest import empty_postgres, key, postgres_url, sqlite_template

__all__ = ["key", "postgres_url", "sqlite_template"]


def sqlite_store(template: Path, folder: Path, key: SigningKey) -> Store:
    shutil.copy(template, folder / "rxt.db")
    database = open_database(f"sqlite:///{folder / 'rxt.db'}")
    return build_store(database, key=key, policy=CheckpointPolicy(every_entries=50))


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path, key: SigningKey) -> Iterator[Store]:
    made = sqlite_store(sqlite_template, tmp_path, key)
    yield made
    made.close()


@pytest.fixture
def pg_store(postgres_url: str, key: SigningKey) -> Iterator[Store]:
    made = build_store(empty_postgres(postgres_url), key=key)
    yield made
    made.close()


@pytest.fixture
def env_repo(tmp_path: Path) -> EnvRepo:
    return EnvRepo(tmp_path / "remote", tmp_path / "cache")


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def fake_sites(world: FakeWorld) -> Sites:
    sites = Sites()
    for platform, driver in world.drivers().items():
        sites.add(platform, driver)
    return sites


@pytest.fixture
def reconciler(store: Store, world: FakeWorld) -> Reconciler:
    return Reconciler(store, fake_sites(world), options=Options(holder="engine-a"))
