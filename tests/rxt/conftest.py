"""Fixtures of the command-line and API tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from core.logs import configure


@pytest.fixture(autouse=True)
def logs_to_this_tests_stream() -> Iterator[None]:
    """Commands run in-process (``rxt serve``, ``rxt demo``) configure logging onto the stream
    pytest gave their test, closed once it ends; point logging at this test's stream, and at
    the process's own standard error afterwards, so that no later test in the same process
    (of this folder or another) logs into a closed file."""
    configure(stream=sys.stderr)
    yield
    configure(stream=sys.__stderr__)
