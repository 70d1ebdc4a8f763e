"""Servers shared by the cross-driver secret tests: a real OpenBao, started once per worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import hvac
import pytest

from simulators import openbao


@pytest.fixture(scope="session")
def openbao_server() -> Iterator[openbao.OpenBaoServer]:
    with openbao.running() as server:
        yield server


@pytest.fixture
def admin(openbao_server: openbao.OpenBaoServer) -> hvac.Client:
    """A root client standing in for the tenant who writes secrets."""
    return hvac.Client(url=openbao_server.url, token=openbao_server.root_token)


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test, so tests share one server without seeing each other's data."""
    return f"t-{uuid.uuid4().hex[:10]}"
