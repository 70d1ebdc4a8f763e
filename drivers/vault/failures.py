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


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one family of SDK exceptions reads to a person: class, message and hint."""

    kinds: tuple[type[Exception], ...]
    error: type[PlatformError]
    message: str  # formatted with ``doing`` and ``what``
    hint: str  # formatted with ``grant``


# Checked in order, so the specific requests errors come before their base class.
_RULES = (
    _Rule(
        (hvac_errors.InvalidPath,),
        NotFound,
        "{what}: Vault has no such secret (or that version was deleted)",
        "write the secret in Vault at that path, or fix the secretRef path or version in "
        "deploy.yaml",
    ),
    _Rule(_DENIED, FatalError, "Vault denied {doing} {what}",
          "give the engine's Vault token a policy with {grant}, or renew the token"),
    _Rule(_TRANSIENT, TransientError,
          "Vault failed while {doing} {what}; it is overloaded, sealed or failing",
          "the engine retries with backoff; check Vault's health if this persists"),
    _Rule(_REJECTED, InvalidRequest, "Vault rejected {doing} {what}",
          "check that the mount is a KV version 2 engine and the reference is valid"),
    _Rule(
        (requests.exceptions.InvalidJSONError,),
        FatalError,
        "the server at VAULT_ADDR answered {doing} {what} with something other than JSON",
        "check that VAULT_ADDR points at Vault or OpenBao itself, not a proxy page",
    ),
    _Rule((requests.RequestException,), TransientError,
          "Vault could not be reached while {doing} {what}",
          "check VAULT_ADDR and the network path to Vault; the engine retries"),
)  # fmt: skip


def _classify(
    error: Exception, *, doing: str, what: str, resource: str, grant: str
) -> PlatformError:
    for rule in _RULES:
        if isinstance(error, rule.kinds):
            return rule.error(
                rule.message.format(doing=doing, what=what),
                hint=rule.hint.format(grant=grant),
                resource=resource,
            )
    return FatalError(
        f"Vault answered unexpectedly while {doing} {what}",
        hint="see the chained cause for the HTTP status and Vault's error strings",
        resource=resource,
    )
