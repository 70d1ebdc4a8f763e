"""Fixtures of the command-line and API tests."""

from __future__ import annotations

import sys

import pytest

from core.logs import configure


@pytest.fixture(autouse=True)
def logs_to_this_tests_stream() -> None:
    """Commands run in-process (``rxt serve``, ``rxt demo``) configure logging onto the stream
    pytest gave their test, closed once it ends; point logging at this test's stream, so that
    no later test in the same process logs into a closed file."""
    configure(stream=sys.stderr)
