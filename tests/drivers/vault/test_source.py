"""The Vault secret source against a real OpenBao: versions, values, errors and wrapping."""

from __future__ import annotations

import httpx
import hvac
import pytest

from core.errors import ConfigError, FatalError, InvalidRequest, NotFound, TransientError
from core.resources import SecretRef
from drivers.vault import VaultLayout, VaultSecretSource
from drivers.vault.failures import VaultCallFailed
from simulators import openbao
from simulators.openbao import OpenBaoServer
from tests.conftest import free_port
from tests.drivers.vault.conftest import limited_token, write

DB = SecretRef(path="payments/db", key="password")


def chain_text(error: BaseException) -> str:
    texts, current = [], error
    while current is not None:
        texts.append(f"{current!s} {current!r}")
        current = current.__cause__ or current.__context__  # type: ignore[assignment]
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("version", "expected"), [(None, "v2-value"), (1, "v1-value"), (2, "v2-value")]
)
def test_read_returns_the_latest_or_the_pinned_version(
    admin: hvac.Client, source: VaultSecretSource, tenant: str, version: int | None, expected: str
) -> None:
    write(admin, tenant, "payments/db", password="v1-value")
    write(admin, tenant, "payments/db", password="v2-value")
    ref = SecretRef(path="payments/db", key="password", version=version)
    assert source.read(ref, tenant=tenant) == expected


def test_rotation_bumps_the_version_read_from_metadata(
    admin: hvac.Client, source: VaultSecretSource, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="first")
    assert source.version(DB, tenant=tenant) == 1
    write(admin, tenant, "payments/db", password="rotated")
    assert source.version(DB, tenant=tenant) == 2
    assert source.version(SecretRef("payments/db", "password", version=1), tenant=tenant) == 1


def test_version_needs_only_metadata_access(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="metadata-only-canary")
    token = limited_token(
        admin,
        name=f"{tenant}-metadata",
        policy=f'path "secret/metadata/tenants/{tenant}/*" {{ capabilities = ["read"] }}',
    )
    source = VaultSecretSource(openbao_server.url, token=token)
    assert source.version(DB, tenant=tenant) == 1
    with pytest.raises(FatalError):  # the value itself is out of this token's reach
        source.read(DB, tenant=tenant)


def test_a_permission_error_names_the_ref_and_carries_no_value_or_sdk_body(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="denied-canary-41")
    token = limited_token(
        admin,
        name=f"{tenant}-deny",
        policy=f'path "secret/data/tenants/{tenant}/payments/*" {{ capabilities = ["deny"] }}',
    )
    source = VaultSecretSource(openbao_server.url, token=token)
    with pytest.raises(FatalError) as caught:
        source.read(DB, tenant=tenant)
    error = caught.value
    assert "denied" in error.message
    for part in (tenant, "payments/db#password", f"secret/tenants/{tenant}/payments/db"):
        assert part in error.message
    assert f"secret/data/tenants/{tenant}/payments/db" in error.hint
    assert isinstance(error.__cause__, VaultCallFailed)
    assert "Forbidden" in str(error.__cause__)
    assert error.__context__ is None  # the hvac exception, body and all, is not kept
    assert "denied-canary-41" not in chain_text(error)
    assert token not in chain_text(error)


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        (SecretRef("payments/nope", "password"), "no such secret"),
        (SecretRef("payments/db", "missing"), "no such key"),
        (SecretRef("payments/db", "password", version=9), "no such secret"),
    ],
)
def test_missing_paths_keys_and_versions_are_not_found_errors_naming_the_ref(
    admin: hvac.Client, source: VaultSecretSource, tenant: str, ref: SecretRef, fragment: str
) -> None:
    write(admin, tenant, "payments/db", password="missing-canary-77", user="app")
    with pytest.raises(NotFound) as caught:
        source.read(ref, tenant=tenant)
    assert fragment in caught.value.message
    assert str(ref) in caught.value.message
    assert tenant in caught.value.message
    assert "missing-canary-77" not in chain_text(caught.value)
    assert "missing-canary-77" not in caught.value.hint


def test_a_missing_key_hint_lists_key_names_only(
    admin: hvac.Client, source: VaultSecretSource, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="hint-canary-3", user="app-user")
    with pytest.raises(NotFound) as caught:
        source.read(SecretRef("payments/db", "pasword"), tenant=tenant)
    assert "keys present: password, user" in caught.value.hint
    assert "app-user" not in caught.value.render()


@pytest.mark.parametrize("method", ["version", "read"])
def test_a_deleted_current_version_is_not_found(
    admin: hvac.Client, source: VaultSecretSource, tenant: str, method: str
) -> None:
    write(admin, tenant, "payments/db", password="deleted-value")
    admin.secrets.kv.v2.delete_latest_version_of_secret(
        path=f"tenants/{tenant}/payments/db", mount_point="secret"
    )
    with pytest.raises(NotFound, match="deleted"):
        getattr(source, method)(DB, tenant=tenant)


@pytest.mark.parametrize(
    "path",
    [
        "../globex/db",
        "/etc/db",
        "payments//db",
        "payments/../../globex/db",
        "a/./b",
        "%2e%2e/globex/db",
        "payments\\..\\db",
        "payments/db?version=1",
        "payments/db/",
        "",
    ],
)
def test_paths_that_would_leave_the_tenant_prefix_are_refused(
    source: VaultSecretSource, tenant: str, path: str
) -> None:
    with pytest.raises(InvalidRequest, match="relative path"):
        source.read(SecretRef(path=path, key="password"), tenant=tenant)


def test_a_tenant_mount_from_the_layout_is_used(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    mount = f"kv-{tenant}"
    admin.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    admin.secrets.kv.v2.create_or_update_secret(
        path="apps/payments/db", secret={"password": "own-mount"}, mount_point=mount
    )
    layout = VaultLayout(prefix="apps/", tenant_mounts={tenant: mount})
    source = VaultSecretSource(openbao_server.url, token=openbao_server.root_token, layout=layout)
    assert source.read(DB, tenant=tenant) == "own-mount"


def test_wrapping_gives_a_single_use_token_that_unwraps_to_the_values(
    admin: hvac.Client, openbao_server: OpenBaoServer, source: VaultSecretSource, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="wrapped-value", user="app")
    write(admin, tenant, "payments/api", key="api-value")
    refs = [DB, SecretRef("payments/api", "key")]
    token = source.wrap(refs, tenant=tenant, ttl_seconds=120)
    assert "wrapped-value" not in token

    lookup = admin.adapter.post("/v1/sys/wrapping/lookup", json={"token": token})
    assert lookup["data"]["creation_ttl"] == 120

    unwrap = f"{openbao_server.url}/v1/sys/wrapping/unwrap"
    vm = {"X-Vault-Token": token}  # the VM holds the wrapping token and nothing else
    first = httpx.post(unwrap, headers=vm, timeout=10)
    assert first.json()["data"] == {
        "payments/db#password": "wrapped-value",
        "payments/api#key": "api-value",
    }
    second = httpx.post(unwrap, headers=vm, timeout=10)
    assert second.status_code == 400
    assert "wrapping token is not valid" in second.text


@pytest.mark.parametrize("ttl", [0, -5, 2 * 24 * 3600])
def test_wrapping_refuses_ttls_that_are_not_short_lived(
    source: VaultSecretSource, tenant: str, ttl: int
) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        source.wrap([DB], tenant=tenant, ttl_seconds=ttl)


def test_an_unreachable_vault_is_a_transient_error() -> None:
    source = VaultSecretSource(f"http://127.0.0.1:{free_port()}", token="unused-token", timeout=2)
    with pytest.raises(TransientError, match="could not be reached") as caught:
        source.version(DB, tenant="acme")
    assert caught.value.retryable
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    "env",
    [{}, {"VAULT_ADDR": "http://127.0.0.1:1"}, {"VAULT_TOKEN": "t-only"}],
)
def test_from_env_without_address_and_token_is_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="VAULT_ADDR and VAULT_TOKEN"):
        VaultSecretSource.from_env(env=env)


def test_from_env_reads_vault_addr_and_token(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="from-env")
    env = {"VAULT_ADDR": openbao_server.url, "VAULT_TOKEN": openbao_server.root_token}
    assert VaultSecretSource.from_env(env=env).read(DB, tenant=tenant) == "from-env"


def test_versions_reads_each_path_once_and_keys_by_the_unpinned_ref(
    admin: hvac.Client, source: VaultSecretSource, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="a", user="b")
    write(admin, tenant, "payments/db", password="c", user="d")
    write(admin, tenant, "payments/api", key="e")
    refs = [DB, SecretRef("payments/db", "user"), SecretRef("payments/api", "key", version=1)]
    assert source.versions(refs, tenant=tenant) == {
        DB: 2,
        SecretRef("payments/db", "user"): 2,
        SecretRef("payments/api", "key"): 1,
    }


def test_a_token_that_may_not_wrap_gets_a_permission_error_naming_the_wrap(
    admin: hvac.Client, openbao_server: OpenBaoServer, tenant: str
) -> None:
    write(admin, tenant, "payments/db", password="no-wrap-canary-12")
    name = f"{tenant}-read-only"
    policy = f'path "secret/data/tenants/{tenant}/*" {{ capabilities = ["read"] }}'
    admin.sys.create_or_update_policy(name=name, policy=policy)
    created = admin.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")
    source = VaultSecretSource(openbao_server.url, token=created["auth"]["client_token"])
    assert source.read(DB, tenant=tenant) == "no-wrap-canary-12"
    with pytest.raises(FatalError, match="denied wrapping") as caught:
        source.wrap([DB], tenant=tenant, ttl_seconds=60)
    assert "sys/wrapping/wrap" in caught.value.hint
    assert "no-wrap-canary-12" not in chain_text(caught.value)


def test_a_sealed_vault_is_a_transient_error() -> None:
    with openbao.running(root_token="seal-test-root") as server:
        hvac.Client(url=server.url, token=server.root_token).sys.seal()
        source = VaultSecretSource(server.url, token=server.root_token)
        with pytest.raises(TransientError, match="sealed") as caught:
            source.version(DB, tenant="acme")
    assert "VaultDown" in str(caught.value.__cause__)


@pytest.mark.parametrize("bad_tenant", ["acme/../globex", "Acme", "", "acme/", "-acme"])
def test_a_tenant_that_is_not_a_dns_label_is_refused_before_any_request(
    source: VaultSecretSource, bad_tenant: str
) -> None:
    with pytest.raises(InvalidRequest, match="not a DNS label"):
        source.version(DB, tenant=bad_tenant)
