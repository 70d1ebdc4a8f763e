"""The VM path: only a response-wrapping token leaves the engine; one unwrap yields the secret."""

from __future__ import annotations

import hvac
import pytest
from hvac import exceptions as hvac_errors

from core.resources import SecretRef
from drivers.vault import VaultSecretSource
from drivers.vault.redaction import encodings
from simulators.openbao import OpenBaoServer

DB = SecretRef(path="payments/db", key="password")


def test_a_wrapped_secret_unwraps_once_at_boot_and_never_again(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    canary = "vm-canary-0b8f3e"
    admin.secrets.kv.v2.create_or_update_secret(
        path=f"tenants/{tenant}/payments/db", secret={"password": canary}, mount_point="secret"
    )
    source = VaultSecretSource(openbao_server.url, token=openbao_server.root_token)
    token = source.wrap([DB], tenant=tenant, ttl_seconds=300)
    assert not any(form in token for form in encodings(canary))

    # What the VM's cloud-init does at first boot, with nothing but the token.
    boot = hvac.Client(url=openbao_server.url)
    assert boot.sys.unwrap(token=token)["data"] == {"payments/db#password": canary}
    with pytest.raises(hvac_errors.InvalidRequest):
        boot.sys.unwrap(token=token)
