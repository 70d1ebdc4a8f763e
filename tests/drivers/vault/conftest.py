"""A real OpenBao dev server for the Vault driver's tests, one per test session and worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import hvac
import pytest

from drivers.vault import VaultSecretSource
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


@pytest.fixture
def source(openbao_server: openbao.OpenBaoServer) -> VaultSecretSource:
    return VaultSecretSource(openbao_server.url, token=openbao_server.root_token)


def write(admin: hvac.Client, tenant: str, path: str, **data: str) -> int:
    """Write a version under the default layout and return its number."""
    response = admin.secrets.kv.v2.create_or_update_secret(
        path=f"tenants/{tenant}/{path}", secret=data, mount_point="secret"
    )
    return int(response["data"]["version"])


def limited_token(admin: hvac.Client, *, name: str, policy: str) -> str:
    """A token holding only ``policy`` (and Vault's default policy, which allows wrapping)."""
    admin.sys.create_or_update_policy(name=name, policy=policy)
    created = admin.auth.token.create(policies=[name], ttl="10m")
    return str(created["auth"]["client_token"])
