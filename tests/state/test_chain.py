"""The hashed form of an entry is RFC 8785 canonical JSON, built fast but equal to the slow way."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.hashing import canonical_json, sha256_hex
from state.chain import GENESIS, EntryFields, body_bytes, body_object, canonical_details, entry_hash

texts = st.text(max_size=20)
times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(min_value=-(2.0**52), max_value=2.0**52)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
details = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


@settings(max_examples=60, deadline=None)
@given(value=details)
def test_canonical_details_are_what_rfc_8785_makes(value: dict[str, Any]) -> None:
    assert canonical_details(value) == canonical_json(value).decode("utf-8")


@settings(max_examples=60, deadline=None)
@given(
    tenant=texts,
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    at=times,
    actor=texts,
    action=texts,
    obj=texts,
    commit=texts,
    plan_id=texts,
    value=details,
)
def test_the_hashed_body_is_the_canonical_json_of_the_entry(
    *,
    tenant: str,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    obj: str,
    commit: str,
    plan_id: str,
    value: dict[str, Any],
) -> None:
    fields = EntryFields(
        tenant, seq, at, actor, action, obj, commit, plan_id, canonical_details(value)
    )
    assert body_bytes(fields) == canonical_json(body_object(fields))


def test_an_entry_hash_covers_the_previous_hash_then_the_body() -> None:
    fields = EntryFields(
        "acme",
        1,
        dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
        "engine",
        "plan.applied",
        "prod",
        "",
        "",
        json.dumps({}),
    )
    expected = sha256_hex(GENESIS.encode() + canonical_json(body_object(fields)))
    assert entry_hash(GENESIS, fields) == expected
    assert body_object(fields)["at"] == "2026-03-01T09:00:00.000000+00:00"
