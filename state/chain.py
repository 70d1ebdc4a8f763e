"""The hash of one audit entry: the exact bytes hashed, and how they chain to the previous entry.

``state.audit`` computes hashes when appending and ``state.verifying`` recomputes them; both
call only this module, so the two can never disagree. ``docs/audit.md`` describes the format
for anyone who wants to verify a chain without this code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.hashing import canonical_json

GENESIS = "0" * 64
"""The previous hash of every chain's first entry."""

# The C string encoder behind json.dumps(ensure_ascii=False): it escapes exactly what RFC 8785
# escapes (quote, backslash, control characters, short forms and lowercase \u00xx).
_quote: Any = json.encoder.encode_basestring

_MAX_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True, slots=True)
class EntryFields:
    """Every hashed field of an entry, as stored; ``details`` is its canonical JSON text."""

    tenant: str
    seq: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    commit: str
    plan_id: str
    details: str


def format_time(at: dt.datetime) -> str:
    """The form a timestamp takes in the hash: UTC, microseconds, ``+00:00`` offset."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def body_bytes(fields: EntryFields) -> bytes:
    """The entry's canonical JSON (RFC 8785): keys sorted, no spaces, ``details`` inlined.

    Equal to ``core.hashing.canonical_json`` of ``body_object`` (a property test holds us to
    that), but built directly because verification runs it a million times.
    """
    return _body(
        fields.tenant,
        fields.seq,
        format_time(fields.at),
        fields.actor,
        fields.action,
        fields.object,
        fields.commit,
        fields.plan_id,
        fields.details,
    ).encode("utf-8")


_BODY = (
    '{"action":%s,"actor":%s,"at":%s,"commit":%s,"details":%s,'
    '"object":%s,"plan_id":%s,"seq":%d,"tenant":%s}'
)


def _body(  # noqa: PLR0917 - positional on purpose: the verify loop calls it per row
    tenant: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    obj: str,
    commit: str,
    plan_id: str,
    details: str,
) -> str:
    quote = _quote
    return _BODY % (
        quote(action),
        quote(actor),
        quote(at),
        quote(commit),
        details,
        quote(obj),
        quote(plan_id),
        seq,
        quote(tenant),
    )


def row_hash(  # noqa: PLR0917 - positional on purpose: called per row
    prev_hash: str,
    tenant: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    obj: str,
    commit: str,
    plan_id: str,
    details: str,
) -> str:
    """``entry_hash`` from bare column values with ``at`` already formatted: the hot path."""
    body = _body(tenant, seq, at, actor, action, obj, commit, plan_id, details)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def body_object(fields: EntryFields) -> dict[str, Any]:
    """The same entry as a JSON object, for readers and for the equivalence test."""
    return {
        "action": fields.action,
        "actor": fields.actor,
        "at": format_time(fields.at),
        "commit": fields.commit,
        "details": json.loads(fields.details),
        "object": fields.object,
        "plan_id": fields.plan_id,
        "seq": fields.seq,
        "tenant": fields.tenant,
    }


def entry_hash(prev_hash: str, fields: EntryFields) -> str:
    """SHA-256 over the previous entry's hash (64 hex characters) and this entry's body."""
    digest = hashlib.sha256(prev_hash.encode("utf-8"))
    digest.update(body_bytes(fields))
    return digest.hexdigest()


def canonical_details(details: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``details``.

    Plain data (strings, safe integers, booleans, null, lists, objects whose keys sort the same
    by code point as by UTF-16 unit) takes the C encoder; anything else (floats above all) goes
    through ``core.hashing.canonical_json``, which knows ECMAScript number formatting.
    """
    if _is_plain(details):
        return json.dumps(details, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return canonical_json(details).decode("utf-8")


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        # Above U+FFFF, code point order and UTF-16 order (which RFC 8785 sorts by) differ.
        return all(
            isinstance(key, str) and (key.isascii() or max(key) <= "\uffff") and _is_plain(item)
            for key, item in value.items()
        )
    return False
