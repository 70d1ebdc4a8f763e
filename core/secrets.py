"""The secret source drivers are given at apply time; Vault/OpenBao is its one real implementation.

Drivers never import each other, so the Kubernetes and vSphere drivers receive a ``SecretSource``
from the reconciler instead of importing the Vault driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.resources import SecretRef


class SecretSource(Protocol):
    """Reads secret values and versions for one tenant; every value read is registered for
    redaction (``core.logs.register_secret``) before it is returned."""

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        """The current version of ``ref``'s path, read from metadata only (no value).

        Raises:
            PlatformError: NotFound for a missing path or key, FatalError for a permission error.
        """
        ...

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        """The value of ``ref`` (at ``ref.version`` when set).

        Raises:
            PlatformError: NotFound for a missing path or key, FatalError for a permission error.
        """
        ...

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        """A single-use, short-lived response-wrapping token whose unwrap returns a JSON object
        ``{"<path>#<key>": value}`` of ``refs``; only the token travels to a VM."""
        ...
