"""A client that is slow to send its request head (slowloris) is cut off at the head deadline,
on a fresh or a kept-alive connection; complete heads, and bodies sent after them, are served."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from rxt.api import ApiLimits, create_app
from rxt.api.serving import running_in_thread
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.payloads import Recorder

HEAD_SECONDS = 0.5
# Slack for a loaded test machine; the server's timer itself fires on time.
SLACK = 1.5
READ_TIMEOUT = 4.0

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    app = create_app(
        secrets=payloads.secrets_for,
        enqueue=Recorder(),
        limits=ApiLimits(read_timeout=READ_TIMEOUT, burst=200),
    )
    with running_in_thread(app, port=free_port(), head_seconds=HEAD_SECONDS) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def closed_after(sock: socket.socket, *, started: float) -> tuple[bytes, float]:
    """Read until the server closes the connection; what it sent and when it closed."""
    sock.settimeout(HEAD_SECONDS + SLACK + 5)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received, time.monotonic() - started


def assert_cut_at_the_deadline(answer: bytes, elapsed: float) -> None:
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert HEAD_SECONDS * 0.8 <= elapsed <= HEAD_SECONDS + SLACK, elapsed


def one_response(sock: socket.socket) -> bytes:
    """One whole response (head and ``Content-Length`` body) from a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(4096)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: rxt\r\n\r\n".encode()


def test_half_a_request_line_is_answered_408_and_closed_at_the_deadline(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HT")

        assert_cut_at_the_deadline(*closed_after(sock, started=started))


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server) as sock:
        assert_cut_at_the_deadline(*closed_after(sock, started=time.monotonic()))


def test_trickling_the_head_does_not_move_the_deadline(server: tuple[str, int]) -> None:
    head = get("/healthz")[:-2] + b"X-Padding: " + b"a" * 200
    with socket.create_connection(server) as sock:
        started = time.monotonic()
        sent = 0
        try:
            while sent < len(head) and time.monotonic() - started < HEAD_SECONDS + SLACK:
                sock.sendall(head[sent : sent + 1])
                sent += 1
                time.sleep(HEAD_SECONDS / 10)
        except (BrokenPipeError, ConnectionResetError):
            pass

        answer, elapsed = closed_after(sock, started=started)

    assert sent < len(head)
    assert_cut_at_the_deadline(answer, elapsed)


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(get("/healthz"))
        first = one_response(sock)
        assert first.startswith(b"HTTP/1.1 200 "), first
        started = time.monotonic()
        sock.sendall(b"GET /hea")

        assert_cut_at_the_deadline(*closed_after(sock, started=started))


def test_a_body_sent_after_the_deadline_is_still_read_once_the_head_was_complete(
    server: tuple[str, int],
) -> None:
    """The deadline is for the head only; the route's own read timeout governs the body."""
    signed = payloads.github("push", payloads.github_push())
    head = ["POST /webhooks/github HTTP/1.1", "Host: rxt", f"Content-Length: {len(signed.body)}"]
    head += [f"{k}: {v}" for k, v in signed.headers.items()]
    with socket.create_connection(server, timeout=READ_TIMEOUT + 5) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        time.sleep(HEAD_SECONDS * 2)
        sock.sendall(signed.body)
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 202 "), answer


def test_ordinary_requests_are_served_on_fresh_and_kept_alive_connections(
    server: tuple[str, int],
) -> None:
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}") as client:
        answers = [client.get("/healthz").status_code for _ in range(3)]
        time.sleep(HEAD_SECONDS * 2)  # idle on the kept-alive connection, past the deadline
        answers.append(client.get("/healthz").status_code)

    assert answers == [200, 200, 200, 200]


def test_an_unfinished_head_past_the_size_limit_is_refused_before_the_deadline(
    server: tuple[str, int],
) -> None:
    """h11 bounds what it buffers of an incomplete head; a complete one read at once is parsed
    whatever its size, so only the unfinished case is bounded."""
    head = get("/healthz")[:-2] + b"X-Padding: " + b"a" * (17 * 1024)
    with socket.create_connection(server) as sock:
        started = time.monotonic()
        sock.sendall(head)
        answer, elapsed = closed_after(sock, started=started)

    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert elapsed < HEAD_SECONDS
