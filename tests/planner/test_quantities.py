"""Kubernetes quantities as millicores and bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.quantities import parse_bytes, parse_cpu_millicores


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("2", 2000), ("500m", 500), ("0.1", 100), (".5", 500), ("1.5", 1500), ("1m", 1),
     ("0.0001", 1), ("0", 0), ("1k", 1_000_000)],
)  # fmt: skip
def test_cpu_quantities_become_millicores_rounded_up(text: str, millicores: int) -> None:
    assert parse_cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [("4Gi", 4 * 2**30), ("1G", 10**9), ("512Mi", 512 * 2**20), ("1Ki", 1024), ("1k", 1000),
     ("1.5Gi", 3 * 2**29), ("100", 100), ("1Ei", 2**60), ("2E", 2 * 10**18), ("1500m", 2),
     ("0.5Ki", 512)],
)  # fmt: skip
def test_memory_quantities_become_bytes(text: str, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    "text", ["", "Gi", "4 Gi", "4gi", "-1", "1e3", "4GiB", "0x10", "1.", "4Gi ", "1" * 65]
)
def test_text_that_is_not_a_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_bytes(text)
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_cpu_millicores(text)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["Ki", "Mi", "Gi", "Ti"]))
def test_binary_suffixes_are_powers_of_1024(number: int, suffix: str) -> None:
    power = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4}[suffix]
    assert parse_bytes(f"{number}{suffix}") == number * 1024**power


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_cores_and_millicores_agree(cores: int) -> None:
    assert parse_cpu_millicores(str(cores)) == parse_cpu_millicores(f"{cores * 1000}m")
