"""Canonical JSON and digests: equal data gives equal bytes, whatever the key order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.hashing import canonical_json, digest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [True, None]}) == b'{"a":[true,null],"b":1}'


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_digest_ignores_key_order(value: dict[str, object]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert digest(reordered) == digest(value)


@pytest.mark.parametrize(
    ("left", "right"), [({"a": 1}, {"a": 2}), ({"a": "1"}, {"a": 1}), ([1, 2], [2, 1])]
)
def test_digest_differs_when_data_differs(left: object, right: object) -> None:
    assert digest(left) != digest(right)


def test_digest_has_its_algorithm_as_prefix() -> None:
    assert digest({}).startswith("sha256:")
    assert len(digest({})) == len("sha256:") + 64


def test_integers_beyond_the_json_safe_range_are_refused_plainly() -> None:
    with pytest.raises(ValueError, match="canonical JSON"):
        canonical_json({"bytes": 2**53})


any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


@given(any_json)
def test_the_fast_path_is_byte_equal_to_rfc8785(value: object) -> None:
    import rfc8785

    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "keys",
    [["\U0001f600", "\uffff"], ["b", "a", "\u00e9"], ["\ue000", "\U00010000"]],
)
def test_keys_sort_by_utf16_code_units_as_rfc8785_says(keys: list[str]) -> None:
    import rfc8785

    value = dict.fromkeys(keys, 1)
    assert canonical_json(value) == rfc8785.dumps(value)
