"""The Vault/OpenBao secret source: reads tenants' KV v2 secrets at apply time through hvac.

The reconciler builds one ``VaultSecretSource`` and hands it to the Kubernetes and vSphere drivers
as a ``core.secrets.SecretSource``. It only reads: the engine never writes tenants' secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

from core.errors import ConfigError, NotFound
from core.logs import get_logger
from core.resources import SecretRef
from drivers.vault.failures import translate
from drivers.vault.layout import SecretLocation, VaultLayout
from drivers.vault.redaction import register_value

T = TypeVar("T")
_SDK_ERRORS = (hvac_errors.VaultError, requests.RequestException)
_MAX_WRAP_TTL = 24 * 3600  # a wrapping token that outlives a day is no longer short-lived


class VersionMetadata(TypedDict):
    """One entry of KV v2 metadata ``versions``."""

    created_time: str
    deletion_time: str
    destroyed: bool


class Metadata(TypedDict):
    """The part of a KV v2 metadata response we read."""

    current_version: int
    versions: dict[str, VersionMetadata]


class VaultSecretSource:
    """Reads secret versions and values for tenants from a KV v2 mount, and wraps values for VMs.

    Args:
        address: Vault's URL, e.g. ``https://vault.example.com:8200``.
        token: the engine's Vault token; it is registered for redaction.
        layout: the mount and path layout of tenants' secrets.
        timeout: seconds per HTTP request.
        verify: TLS verification: True, False, or a CA bundle path.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str,
        layout: VaultLayout | None = None,
        timeout: float = 10.0,
        verify: bool | str = True,
    ) -> None:
        register_value(token)
        self.address = address.rstrip("/")
        self.layout = layout or VaultLayout()
        self._client = hvac.Client(url=self.address, token=token, timeout=timeout, verify=verify)
        self._log = get_logger(driver="vault")

    @classmethod
    def from_env(
        cls, *, layout: VaultLayout | None = None, env: Mapping[str, str] | None = None
    ) -> VaultSecretSource:
        """Build from ``VAULT_ADDR`` and ``VAULT_TOKEN`` (``BAO_ADDR``/``BAO_TOKEN`` as fallbacks).

        Raises:
            ConfigError: the address or the token is not set.
        """
        values = os.environ if env is None else env
        address = values.get("VAULT_ADDR") or values.get("BAO_ADDR")
        token = values.get("VAULT_TOKEN") or values.get("BAO_TOKEN")
        if not address or not token:
            raise ConfigError(
                "Vault is not configured: VAULT_ADDR and VAULT_TOKEN must both be set",
                hint="export VAULT_ADDR=https://vault.example.com:8200 and a VAULT_TOKEN whose "
                "policy may read the tenants' paths",
            )
        return cls(address, token=token, layout=layout)

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        """The version of ``ref`` a read would return, from metadata only (no value is read).

        A pinned ``ref.version`` is checked to exist and not be deleted; otherwise the current
        version. A missing key cannot be seen in metadata and is reported by ``read``.

        Raises:
            PlatformError: NotFound for a missing path or a deleted version, FatalError for a
                permission error, TransientError when Vault is unreachable or failing.
        """
        where = self.layout.locate(ref, tenant=tenant)
        response = self._read_at(
            where,
            lambda: self._client.secrets.kv.v2.read_secret_metadata(
                path=where.path, mount_point=where.mount
            ),
            doing="reading the metadata of",
        )
        metadata: Metadata = response["data"]
        wanted = ref.version if ref.version is not None else int(metadata["current_version"])
        entry = metadata["versions"].get(str(wanted))
        if entry is None or entry["deletion_time"] or entry["destroyed"]:
            raise NotFound(
                f"{where}: version {wanted} does not exist or was deleted",
                hint="write a new version in Vault, undelete it, or pin another version",
                resource=where.resource,
            )
        self._log.debug("secret_version.read", tenant=tenant, ref=str(ref), version=wanted)
        return wanted

    def versions(self, refs: Iterable[SecretRef], *, tenant: str) -> dict[SecretRef, int]:
        """The versions of ``refs`` keyed by the unpinned reference, as the planner takes them.

        One metadata read per path, however many keys of it are referenced; no value is read.

        Raises:
            PlatformError: as ``version``.
        """
        by_path: dict[tuple[str, int | None], int] = {}
        found: dict[SecretRef, int] = {}
        for ref in refs:
            slot = (ref.path, ref.version)
            if slot not in by_path:
                by_path[slot] = self.version(ref, tenant=tenant)
            found[SecretRef(ref.path, ref.key)] = by_path[slot]
        return found

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        """The value of ``ref`` (at ``ref.version`` when pinned), registered for redaction.

        Raises:
            PlatformError: NotFound for a missing path, version or key, FatalError for a
                permission error, TransientError when Vault is unreachable or failing.
        """
        where = self.layout.locate(ref, tenant=tenant)
        response = self._read_at(
            where,
            lambda: self._client.secrets.kv.v2.read_secret_version(
                path=where.path,
                version=ref.version,
                mount_point=where.mount,
                raise_on_deleted_version=True,
            ),
            doing="reading",
        )
        data: dict[str, Any] = response["data"]["data"] or {}
        # Every value of the version passed through this process, not only the one asked for.
        for value in data.values():
            register_value(_as_text(value))
        if ref.key not in data:
            raise NotFound(
                f"{where}: the secret has no such key",
                hint=f"keys present: {', '.join(sorted(data)) or 'none'}; add the key in Vault "
                "or fix the secretRef key in deploy.yaml",
                resource=where.resource,
            )
        version = response["data"]["metadata"]["version"]
        self._log.info("secret.read", tenant=tenant, ref=str(ref), version=version)
        return _as_text(data[ref.key])

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        """A single-use response-wrapping token whose unwrap returns ``{"<path>#<key>": value}``.

        The values are read here, wrapped by Vault's ``sys/wrapping/wrap`` and dropped; only the
        token is returned, and it is registered for redaction like a value.

        Raises:
            ValueError: ``ttl_seconds`` is not between 1 and one day.
            PlatformError: as ``read``, or FatalError when the token may not wrap.
        """
        if not 0 < ttl_seconds <= _MAX_WRAP_TTL:
            raise ValueError(f"wrap ttl_seconds must be 1..{_MAX_WRAP_TTL}, not {ttl_seconds}")
        payload = {str(ref): self.read(ref, tenant=tenant) for ref in refs}
        response = self._call(
            lambda: self._client.sys.wrap(payload=payload, ttl=f"{ttl_seconds}s"),
            doing="wrapping",
            what=f"{len(payload)} secret(s) of tenant {tenant} for delivery to a VM",
            resource="vault:sys/wrapping/wrap",
            grant="update on sys/wrapping/wrap (Vault's default policy grants it)",
        )
        token: str = response["wrap_info"]["token"]
        register_value(token)
        self._log.info("secret.wrapped", tenant=tenant, refs=sorted(payload), ttl=ttl_seconds)
        return token

    def _call(
        self, call: Callable[[], T], *, doing: str, what: str, resource: str, grant: str
    ) -> T:
        try:
            return call()
        except _SDK_ERRORS as error:
            failure = translate(error, doing=doing, what=what, resource=resource, grant=grant)
        # Raised outside the except block so that the SDK exception is not kept as __context__.
        raise failure.error from failure.cause

    def _read_at(self, where: SecretLocation, call: Callable[[], T], *, doing: str) -> T:
        grant = f"read on {where.mount}/data/{where.path} and {where.mount}/metadata/{where.path}"
        return self._call(call, doing=doing, what=str(where), resource=where.resource, grant=grant)


def _as_text(value: Any) -> str:
    """KV values are usually strings; anything else is delivered as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
