"""Turns hvac and requests exceptions into ``core.errors`` values that name the reference.

Only ``VaultSecretSource`` calls this. The SDK exception is never chained as it is: its response
body could carry a value, so the cause attached is a ``VaultCallFailed`` rebuilt from safe parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from hvac import exceptions as hvac_errors

from core.errors import FatalError, InvalidRequest, NotFound, PlatformError, TransientError
from core.logs import redact_text

_TRANSIENT = (
    hvac_errors.RateLimitExceeded,
    hvac_errors.InternalServerError,
    hvac_errors.BadGateway,
    hvac_errors.VaultDown,
)
_DENIED = (hvac_errors.Forbidden, hvac_errors.Unauthorized)
_REJECTED = (
    hvac_errors.InvalidRequest,
    hvac_errors.UnsupportedOperation,
    hvac_errors.PreconditionFailed,
    hvac_errors.ParamValidationError,
)


class VaultCallFailed(Exception):
    """The safe stand-in for an SDK exception: its type, the request line and the error strings
    Vault returned, redacted; never the response body."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A translated failure: the error to raise and the safe cause to chain it to."""

    error: PlatformError
    cause: VaultCallFailed


def safe_cause(error: Exception) -> VaultCallFailed:
    """Rebuild ``error`` from parts that cannot hold a secret value."""
    name = f"{type(error).__module__}.{type(error).__name__}"
    if isinstance(error, hvac_errors.VaultError):
        path = urlsplit(str(error.url or "")).path
        errors = [redact_text(str(e)) for e in (error.errors or [])]
        detail = "; ".join(errors) or "no error text"
        return VaultCallFailed(f"{name}: {str(error.method or '').upper()} {path}: {detail}")
    if isinstance(error, requests.RequestException):
        # requests' messages carry the URL and the socket error, not bodies; redacted anyway.
        return VaultCallFailed(f"{name}: {redact_text(str(error))}")
    return VaultCallFailed(name)


def translate(error: Exception, *, doing: str, what: str, resource: str, grant: str) -> Failure:
    """Classify ``error`` by type, never by message text.

    Args:
        doing: the operation in a few words ("reading", "reading the metadata of").
        what: the object, naming tenant, reference, mount and path.
        resource: ``PlatformError.resource``.
        grant: the policy paths the engine's token needs, for the permission hint.
    """
    cause = safe_cause(error)
    return Failure(
        error=_classify(error, doing=doing, what=what, resource=resource, grant=grant), cause=cause
    )


def _classify(
    error: Exception, *, doing: str, what: str, resource: str, grant: str
) -> PlatformError:
    if isinstance(error, hvac_errors.InvalidPath):
        return NotFound(
            f"{what}: Vault has no such secret (or that version was deleted)",
            hint="write the secret in Vault at that path, or fix the secretRef path or version "
            "in deploy.yaml",
            resource=resource,
        )
    if isinstance(error, _DENIED):
        return FatalError(
            f"Vault denied {doing} {what}",
            hint=f"give the engine's Vault token a policy with {grant}, or renew the token",
            resource=resource,
        )
    if isinstance(error, _TRANSIENT):
        return TransientError(
            f"Vault failed while {doing} {what}; it is overloaded, sealed or failing",
            hint="the engine retries with backoff; check Vault's health if this persists",
            resource=resource,
        )
    if isinstance(error, _REJECTED):
        return InvalidRequest(
            f"Vault rejected {doing} {what}",
            hint="check that the mount is a KV version 2 engine and the reference is valid",
            resource=resource,
        )
    if isinstance(error, requests.RequestException):
        return TransientError(
            f"Vault could not be reached while {doing} {what}",
            hint="check VAULT_ADDR and the network path to Vault; the engine retries",
            resource=resource,
        )
    return FatalError(
        f"Vault answered unexpectedly while {doing} {what}",
        hint="see the chained cause for the HTTP status and Vault's error strings",
        resource=resource,
    )
