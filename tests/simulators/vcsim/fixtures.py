"""The session's vcsim, shared by the simulator's and the vSphere driver's tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pyVim.connect import Disconnect, SmartConnect

from simulators.vcsim import launcher

_folders = itertools.count()


@pytest.fixture(scope="session")
def vcsim() -> Iterator[launcher.Vcsim]:
    """One simulator per test process, built once (the binary is cached across runs)."""
    try:
        sim = launcher.start(timeout=90.0)
    except launcher.VcsimUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def si(vcsim: launcher.Vcsim) -> Iterator[Any]:
    """A pyVmomi session of the test's own, for looking and meddling behind the driver's back."""
    instance = SmartConnect(
        host=vcsim.host, port=vcsim.port, user=vcsim.username, pwd=vcsim.password, protocol="http"
    )
    try:
        yield instance
    finally:
        Disconnect(instance)


def fresh_folder() -> str:
    """A folder name no other test of this process uses."""
    return f"t{os.getpid()}-{next(_folders)}"
