"""The VM path: only a response-wrapping token leaves the engine; one unwrap yields the secret."""

from __future__ import annotations

import hvac

from core.resources import SecretRef
from drivers.vault import VaultSecretSource
from drivers.vault.redaction import encodings
from simulators.openbao import OpenBaoServer
from tests.integration.world import unwrap_as_a_vm, write_secret

DB = SecretRef(path="payments/db", key="password")


def test_a_wrapped_secret_unwraps_once_at_boot_and_never_again(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    canary = "vm-canary-0b8f3e"
    write_secret(admin, tenant, "payments/db", password=canary)
    source = VaultSecretSource(openbao_server.url, token=openbao_server.root_token)
    token = source.wrap([DB], tenant=tenant, ttl_seconds=300)
    assert not any(form in token for form in encodings(canary))

    first = unwrap_as_a_vm(openbao_server.url, token)
    assert first.status_code == 200
    assert first.json()["data"] == {"payments/db#password": canary}
    second = unwrap_as_a_vm(openbao_server.url, token)
    assert second.status_code == 400
    assert "wrapping token is not valid" in second.text
    assert canary not in second.text
