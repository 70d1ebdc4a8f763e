"""Running an API instance under uvicorn: in the foreground for ``rxt serve``, or in a
thread for the tests and the benchmarks, with the same server settings, including a deadline
for each request head that uvicorn itself does not have."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

# Idle keep-alive connections are closed after this many seconds; uvicorn's default.
KEEP_ALIVE_SECONDS = 5
# Past this many open connections uvicorn answers 503 at once instead of queueing them.
MAX_CONNECTIONS = 1000
# A request line and headers must be complete this many seconds after the connection opened or
# the request's first byte arrived. Webhook senders and the CLI send a head in one packet;
# ten seconds is the webhook body's read timeout too.
HEAD_SECONDS = 10.0
# A request head larger than this is answered 400 (h11's own default, stated here to be seen).
MAX_HEAD_BYTES = 16 * 1024
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not complete within
    ``head_seconds``; uvicorn arms no timer until a first response, and cancels its keep-alive
    timer at the first byte, so a client trickling a head would hold its connection forever.

    The deadline runs from the connection opening, and from the first byte of each later
    request on a kept-alive connection; it is not moved by more bytes, so trickling does not
    help. Once h11 has parsed the head the deadline is cancelled: bodies are bounded by the
    routes that read them.
    """

    head_seconds: ClassVar[float] = HEAD_SECONDS
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_seconds, self._head_overdue)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # Written past h11, which cannot answer a request it has not parsed; the
            # connection is closed at once, so its state machine is never used again.
            self.transport.write(_TIMED_OUT)
            self.transport.close()


def head_deadline_protocol(seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol class with a head deadline of ``seconds``."""
    if seconds == HEAD_SECONDS:
        return HeadDeadlineProtocol
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_seconds": seconds})


def server_config(
    app: FastAPI,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    head_seconds: float = HEAD_SECONDS,
) -> uvicorn.Config:
    """uvicorn's settings for the API; request bodies are bounded by the routes themselves."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        # Named, not "auto": the head deadline is written for h11, and "auto" would switch to
        # httptools whenever that package happens to be installed.
        http=head_deadline_protocol(head_seconds),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        server_header=False,
        access_log=False,
    )


@contextmanager
def running_in_thread(
    app: FastAPI,
    *,
    port: int,
    host: str = "127.0.0.1",
    start_timeout: float = 10.0,
    head_seconds: float = HEAD_SECONDS,
) -> Iterator[str]:
    """Serve ``app`` in a thread until the block ends; yields the base URL.

    Raises:
        RuntimeError: the server did not start listening within ``start_timeout``.
    """
    config = server_config(
        app, host=host, port=port, log_level="warning", head_seconds=head_seconds
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the API server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout)
