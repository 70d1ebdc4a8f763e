"""Running an API instance under uvicorn: in the foreground for ``rxt serve``, or in a
thread for the tests and the benchmarks, with the same server settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

# Idle keep-alive connections are closed after this many seconds; uvicorn's default.
KEEP_ALIVE_SECONDS = 5
# Past this many open connections uvicorn answers 503 at once instead of queueing them.
MAX_CONNECTIONS = 1000


def server_config(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """uvicorn's settings for the API; request bodies are bounded by the routes themselves."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        server_header=False,
        access_log=False,
    )


@contextmanager
def running_in_thread(
    app: FastAPI, *, port: int, host: str = "127.0.0.1", start_timeout: float = 10.0
) -> Iterator[str]:
    """Serve ``app`` in a thread until the block ends; yields the base URL.

    Raises:
        RuntimeError: the server did not start listening within ``start_timeout``.
    """
    server = uvicorn.Server(server_config(app, host=host, port=port, log_level="warning"))
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
