"""Canonical JSON (RFC 8785) and SHA-256 digests; plans, specs and the audit chain use these."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

DIGEST_PREFIX = "sha256:"

# The C string encoder behind json.dumps(ensure_ascii=False): it escapes exactly what RFC 8785
# escapes (quote, backslash, control characters, the short forms and lowercase \u00xx).
_quote: Any = json.encoder.encode_basestring
_MAX_SAFE_INTEGER = 2**53 - 1


class _NeedsFullCanonicaliser(Exception):
    """The value holds something the fast path leaves to rfc8785 (floats, odd types)."""


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` the one way RFC 8785 allows, so equal data gives equal bytes.

    Values without floats (manifests, specs, audit details) take a fast path that is
    byte-equal to rfc8785's output (a property test holds it to that); the rest go through
    rfc8785 itself, whose number formatting we do not repeat.

    Raises:
        ValueError: the value has no canonical form (an integer beyond 2**53, NaN, a non-string
            key); JSON consumers could not read it back exactly either.
    """
    try:
        return "".join(_fast(value)).encode("utf-8")
    except (_NeedsFullCanonicaliser, UnicodeEncodeError):
        pass
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise ValueError(f"value has no canonical JSON form: {error}") from error


def _fast(value: Any) -> list[str]:
    parts: list[str] = []
    _write(value, parts)
    return parts


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise _NeedsFullCanonicaliser
        out.append(str(int(value)))
    elif isinstance(value, dict):
        _write_object(value, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:  # floats and anything else: rfc8785 decides
        raise _NeedsFullCanonicaliser


def _write_object(value: dict[Any, Any], out: list[str]) -> None:
    if not all(isinstance(key, str) for key in value):
        raise _NeedsFullCanonicaliser
    out.append("{")
    # RFC 8785 orders keys by their UTF-16 code units, which differs from code point order
    # only for characters beyond the Basic Multilingual Plane.
    keys = sorted(value) if all(key.isascii() for key in value) else sorted(value, key=_utf16)
    for index, key in enumerate(keys):
        if index:
            out.append(",")
        out.append(_quote(key))
        out.append(":")
        _write(value[key], out)
    out.append("}")


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def sha256_hex(data: bytes) -> str:
    """The lowercase hexadecimal SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """A ``sha256:<hex>`` digest of ``value``'s canonical JSON."""
    return DIGEST_PREFIX + sha256_hex(canonical_json(value))
