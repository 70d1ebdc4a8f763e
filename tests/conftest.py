"""Suite-wide options and fixtures; each package's tests keep their own in their folder."""

from __future__ import annotations

import re
import socket

import pytest

# A line a test prints with a bar's figures: "R10: 204 API calls ...", "R4 at 30%: ...".
_BAR_LINE = re.compile(r"^(?:R|P)\d+\b")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e", action="store_true", help="also run tests against real vCenter, NSX, clusters"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--e2e"):
        return
    skip = pytest.mark.skip(reason="needs real platforms; run with --e2e")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat the bar figures the passing tests printed (R4 to R11: counts of attacks tried,
    refused and leaked) in one section at the end, since pytest keeps a passing test's output
    to itself; under xdist each worker's output travels with its report."""
    lines = sorted(
        {
            line.strip()
            for report in terminalreporter.getreports("passed")
            for title, text in report.sections
            if "stdout" in title
            for line in text.splitlines()
            if _BAR_LINE.match(line.strip())
        }
    )
    if lines:
        terminalreporter.section("bar figures printed by the tests")
        for line in lines:
            terminalreporter.line(line)
