"""Canonical JSON (RFC 8785) and SHA-256 digests; plans, specs and the audit chain use these."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

DIGEST_PREFIX = "sha256:"


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` the one way RFC 8785 allows, so equal data gives equal bytes.

    Raises:
        ValueError: the value has no canonical form (an integer beyond 2**53, NaN, a non-string
            key); JSON consumers could not read it back exactly either.
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise ValueError(f"value has no canonical JSON form: {error}") from error


def sha256_hex(data: bytes) -> str:
    """The lowercase hexadecimal SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """A ``sha256:<hex>`` digest of ``value``'s canonical JSON."""
    return DIGEST_PREFIX + sha256_hex(canonical_json(value))
