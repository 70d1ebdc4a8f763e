"""The API under a real uvicorn server on loopback: a slow client is cut off by the read
timeout, and concurrent deliveries are each answered and queued exactly once."""

from __future__ import annotations

import asyncio
import select
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

READ_TIMEOUT = 0.5


@pytest.fixture
def queue() -> Recorder:
    return Recorder()


def _serve(queue: Recorder, read_timeout: float) -> Iterator[str]:
    app = create_app(
        secrets=payloads.secrets_for,
        enqueue=queue,
        limits=ApiLimits(read_timeout=read_timeout, burst=200),
    )
    with running_in_thread(app, port=free_port()) as url:
        yield url


@pytest.fixture
def server(queue: Recorder) -> Iterator[str]:
    """A server with a short body read timeout, for the tests of slow and bad clients."""
    yield from _serve(queue, READ_TIMEOUT)


@pytest.fixture
def roomy_server(queue: Recorder) -> Iterator[str]:
    """A server with the default read timeout, for the concurrency tests: fifty bodies sent at
    once to one event loop on a loaded test machine can take longer than the short one."""
    yield from _serve(queue, ApiLimits().read_timeout)


def _trickle(url: str, *, every: float, give_up: float) -> tuple[bytes, float]:
    """Send a signed delivery's headers, then its body one byte per ``every`` seconds.

    Returns what the server answered and how long it took to answer.
    """
    signed = payloads.github("push", payloads.github_push())
    host, port = url.removeprefix("http://").split(":")
    head = [
        "POST /webhooks/github HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(signed.body)}",
    ]
    head += [f"{k}: {v}" for k, v in signed.headers.items()]
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=give_up) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for byte in signed.body:
            # Waiting on the socket paces the trickle and notices the answer at once.
            readable, _, _ = select.select([sock], [], [], every)
            if readable or time.monotonic() - started > give_up:
                break
            sock.sendall(bytes([byte]))
        return sock.recv(65536), time.monotonic() - started


def test_a_slow_client_is_cut_off_by_the_read_timeout(server: str, queue: Recorder) -> None:
    answer, seconds = _trickle(server, every=0.05, give_up=10.0)
    status_line = answer.split(b"\r\n", 1)[0]
    print(
        f"\nR6 slow client: answered {status_line.decode()!r} after {seconds:.2f} s; "
        f"{len(queue.calls)} accepted"
    )
    assert status_line.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer
    assert READ_TIMEOUT <= seconds < READ_TIMEOUT + 2
    assert queue.calls == []


async def _deliver_all(url: str, deliveries: list[payloads.Signed]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(deliveries))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        return await asyncio.gather(
            *(
                client.post("/webhooks/github", content=d.body, headers=d.headers)
                for d in deliveries
            )
        )


def test_fifty_concurrent_deliveries_are_each_queued_once(
    roomy_server: str, queue: Recorder
) -> None:
    deliveries = [
        payloads.github("push", payloads.github_push(after=f"{n:040x}")) for n in range(50)
    ]
    responses = asyncio.run(_deliver_all(roomy_server, deliveries))
    assert [r.status_code for r in responses] == [202] * 50
    assert sorted(d.event.after for d in queue.calls) == sorted(f"{n:040x}" for n in range(50))


def test_concurrent_copies_of_one_delivery_are_queued_once(
    roomy_server: str, queue: Recorder
) -> None:
    signed = payloads.github("push", payloads.github_push())
    responses = asyncio.run(_deliver_all(roomy_server, [signed] * 20))
    codes = sorted(r.status_code for r in responses)
    print(f"\n20 concurrent copies: {codes.count(202)} accepted, {codes.count(200)} replays")
    assert codes == [200] * 19 + [202]
    assert len(queue.calls) == 1


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    server: str, queue: Recorder
) -> None:
    signed = payloads.github("push", payloads.github_push())
    host, port = server.removeprefix("http://").split(":")
    head = ["POST /webhooks/github HTTP/1.1", f"Host: {host}", f"Content-Length: {2 * 1024 * 1024}"]
    head += [f"{k}: {v}" for k, v in signed.headers.items()]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())  # and not one byte of body
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert queue.calls == []
