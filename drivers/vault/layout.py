"""Where a tenant's secret references live in Vault: the KV v2 mount and the path under it.

``VaultSecretSource`` calls ``VaultLayout.locate`` before every request, so a reference can never
reach outside its tenant's prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InvalidRequest
from core.resources import SecretRef

_TENANT = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True, slots=True)
class SecretLocation:
    """One reference placed in Vault: the tenant, the reference, its mount and full path."""

    tenant: str
    ref: SecretRef
    mount: str
    path: str

    def __str__(self) -> str:
        version = f" (version {self.ref.version})" if self.ref.version is not None else ""
        return (
            f"secret {self.ref}{version} of tenant {self.tenant} "
            f"(Vault {self.mount}/{self.path}, key {self.ref.key!r})"
        )

    @property
    def resource(self) -> str:
        """The reference as ``PlatformError.resource`` carries it."""
        return f"vault:{self.mount}/{self.path}#{self.ref.key}"


@dataclass(frozen=True, slots=True)
class VaultLayout:
    """The mount and path layout of tenants' secrets.

    Attributes:
        mount: the KV v2 mount for every tenant without an entry in ``tenant_mounts``.
        prefix: the path prefix under the mount; ``{tenant}`` is replaced by the tenant's name.
        tenant_mounts: a per-tenant mount, for platforms that give each tenant its own.
    """

    mount: str = "secret"
    prefix: str = "tenants/{tenant}/"
    tenant_mounts: Mapping[str, str] = field(default_factory=dict)

    def locate(self, ref: SecretRef, *, tenant: str) -> SecretLocation:
        """Place ``ref`` under ``tenant``'s mount and prefix.

        Raises:
            InvalidRequest: the tenant, path or key is malformed, or the path would leave the
                tenant's prefix (``..``, a leading ``/``).
        """
        if not _TENANT.match(tenant):
            raise InvalidRequest(
                f"tenant {tenant!r} is not a DNS label; its secrets cannot be located",
                hint="tenant names are lowercase letters, digits and '-'",
            )
        _check_path(ref, tenant=tenant)
        mount = self.tenant_mounts.get(tenant, self.mount).strip("/")
        prefix = self.prefix.format(tenant=tenant).strip("/")
        path = f"{prefix}/{ref.path}" if prefix else ref.path
        return SecretLocation(tenant=tenant, ref=ref, mount=mount, path=path)


def _check_path(ref: SecretRef, *, tenant: str) -> None:
    segments = ref.path.split("/")
    bad_path = not all(_SEGMENT.match(s) and s not in {".", ".."} for s in segments)
    if bad_path:
        raise InvalidRequest(
            f"secretRef path {ref.path!r} of tenant {tenant} is not a relative path of "
            "plain segments",
            hint="write the path under the tenant's prefix, e.g. 'payments/db', without "
            "'..', a leading '/' or empty segments",
            resource=f"secretRef {ref}",
        )
    if not _KEY.match(ref.key):
        raise InvalidRequest(
            f"secretRef key {ref.key!r} of {ref.path} (tenant {tenant}) is not a plain key name",
            hint="keys are letters, digits, '.', '_' and '-'",
            resource=f"secretRef {ref}",
        )
    if ref.version is not None and ref.version < 1:
        raise InvalidRequest(
            f"secretRef {ref} of tenant {tenant} asks for version {ref.version}",
            hint="KV v2 versions start at 1; leave version out to follow the latest",
            resource=f"secretRef {ref}",
        )
