"""The simulators' shared loopback server: a client hanging up is not printed as an error, and
a handler's own failure still is."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from simulators.serving import LoopbackServer, ServedInThread


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        raise ValueError("the handler broke on " + self.path)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Served(ServedInThread):
    def __init__(self) -> None:
        self._server = LoopbackServer(("127.0.0.1", 0), _Handler)


@pytest.fixture
def served() -> Iterator[_Served]:
    with _Served() as running:
        yield running


def _port(served: _Served) -> int:
    return int(served.url.rsplit(":", 1)[1])


def _until(served: _Served, *, holding: bool) -> None:
    """Wait until the server holds a connection (it accepted one) or holds none (it is done)."""
    deadline = time.monotonic() + 5
    while bool(served._server.connections) != holding and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bool(served._server.connections) == holding, f"holding a connection: {not holding}"


def test_a_client_resetting_its_connection_prints_nothing(
    served: _Served, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", _port(served))) as sock:
        sock.sendall(b"GET /half")  # a request line never finished
        _until(served, holding=True)  # accepted and reading, so the reset lands mid-request
        # A zero linger makes close send a reset, as a client killed by a timeout does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _until(served, holding=False)
    assert capsys.readouterr().err == ""


def test_a_handler_failure_is_still_printed_with_its_traceback(
    served: _Served, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", _port(served))) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1024)
    _until(served, holding=False)
    err = capsys.readouterr().err
    assert "ValueError: the handler broke on /boom" in err
    assert "Traceback" in err
