"""Fixtures of the reconciler's tests: a migrated store (SQLite, or the local PostgreSQL), an
environment repository in real Git, and the fake driver world or the simulators."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from core.resources import Platform
from drivers.fake import FakeWorld
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.nsx import NsxDriver, NsxSettings
from drivers.vsphere import VsphereDriver
from reconciler.applying import ApplyLimits
from reconciler.reconciling import Options, Reconciler
from reconciler.sites import Sites
from reconciler.wiring.connections import close_all
from simulators.kubernetes import FakeApiServer
from simulators.nsx import NsxSimulator
from simulators.vcsim.launcher import Vcsim
from state.checkpoints import CheckpointPolicy, SigningKey
from state.database import open_database
from state.store import Store, build_store
from tests.conftest import free_port
from tests.reconciler.envrepo import EnvRepo
from tests.simulators.vcsim.fixtures import si, vcsim
from tests.state.conftest import empty_postgres, key, postgres_url, sqlite_template

__all__ = ["key", "postgres_url", "si", "sqlite_template", "vcsim"]


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


@pytest.fixture(scope="session")
def nsx_sim() -> Iterator[NsxSimulator]:
    simulator = NsxSimulator(port=free_port(), delete_ticks=0).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def kube_server() -> Iterator[FakeApiServer]:
    # Controllers run, so Deployments roll out and what depends on them can proceed.
    fake = FakeApiServer(tick=0.05)
    fake.start()
    yield fake
    fake.stop()


# Bounded waits for the simulators: a hang fails the test long before pytest's timeout.
SIM_OPTIONS = Options(
    holder="engine-a", limits=ApplyLimits(health_timeout=30.0, health_poll=0.1, deadline=90.0)
)


def simulator_sites(vcsim: Vcsim, kube: FakeApiServer, nsx: NsxSimulator) -> Sites:
    """Real drivers on the simulators, one per platform, serving every site name."""
    configuration = k8s.Configuration()
    configuration.host = kube.url
    configuration.retries = retry_policy()
    sites = Sites()
    sites.add(Platform.KUBERNETES, KubernetesDriver(k8s.ApiClient(configuration)))
    vsphere = VsphereDriver(
        vcsim.host, port=vcsim.port, user=vcsim.username, password=vcsim.password,
        protocol="http",
    )  # fmt: skip
    sites.add(Platform.VSPHERE, vsphere)
    settings = NsxSettings(
        url=nsx.url, username=nsx.username, password=nsx.password, timeout_seconds=10.0,
        backoff_seconds=0.05, realization_timeout_seconds=30.0, poll_seconds=0.05,
    )  # fmt: skip
    sites.add(Platform.NSX, NsxDriver(settings))
    return sites


@pytest.fixture
def sim_sites(vcsim: Vcsim, kube_server: FakeApiServer, nsx_sim: NsxSimulator) -> Iterator[Sites]:
    sites = simulator_sites(vcsim, kube_server, nsx_sim)
    yield sites
    close_all(sites)
