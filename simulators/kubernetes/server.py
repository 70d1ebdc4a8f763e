"""The fake Kubernetes API server: an HTTP server on loopback, its faults and request counts.

Tests and the demo start it with ``FakeApiServer().start()`` (or as a context manager) and
point the official client at ``url`` or at a kubeconfig from ``write_kubeconfig``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from simulators.kubernetes.controller import Controllers
from simulators.kubernetes.routing import Request, handle
from simulators.kubernetes.status import ApiError
from simulators.kubernetes.store import Store
from simulators.serving import LoopbackServer


@dataclass
class Faults:
    """Switchable misbehaviour; every switch is safe to flip while the server runs."""

    stuck_rollouts: bool = False
    failing_images: set[str] = field(default_factory=set)
    _pending: list[tuple[int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (429, 503, 401...) and Retry-After."""
        with self._lock:
            self._pending.extend([(status, retry_after)] * times)

    def take(self) -> ApiError | None:
        with self._lock:
            if not self._pending:
                return None
            status, retry_after = self._pending.pop(0)
        messages = {429: "Too many requests, please try again later.", 503: "Service unavailable"}
        message = messages.get(status, f"injected failure {status}")
        return ApiError(status, message, retry_after=retry_after)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
        self.stuck_rollouts = False
        self.failing_images = set()


class FakeApiServer:
    """A Kubernetes API server of one minor version (1.25 to 1.37), on 127.0.0.1.

    Args:
        minor: the Kubernetes minor version whose schemas validate objects.
        tick: seconds between controller passes.
        deadline_scale: real seconds per second of ``progressDeadlineSeconds``; tests shrink it
            so a stuck rollout fails quickly.
    """

    def __init__(self, *, minor: int = 28, tick: float = 0.02, deadline_scale: float = 1.0) -> None:
        self.store = Store(minor=minor)
        self.faults = Faults()
        self.counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self.controllers = Controllers(
            store=self.store,
            stuck=lambda: self.faults.stuck_rollouts,
            failing_images=lambda: set(self.faults.failing_images),
            tick=tick,
            deadline_scale=deadline_scale,
        )
        self._http = LoopbackServer(("127.0.0.1", 0), _handler_for(self))
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApiServer:
        for target in (self._http.serve_forever, self.controllers.run):
            thread = threading.Thread(target=target, daemon=True, name="fake-kube-apiserver")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.controllers.stop()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def count(self, request: Request) -> None:
        with self._counts_lock:
            self.counts[(request.method, urlsplit(request.target).path)] += 1

    def calls(self, *, method: str = "", prefix: str = "") -> int:
        """How many requests were answered, filtered by HTTP method and path prefix."""
        with self._counts_lock:
            return sum(
                number
                for (verb, path), number in self.counts.items()
                if (not method or verb == method) and path.startswith(prefix)
            )

    def reset_counts(self) -> None:
        with self._counts_lock:
            self.counts.clear()


def _handler_for(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                target=self.path,
                content_type=self.headers.get("Content-Type", ""),
                body=self.rfile.read(length) if length else b"",
                user_agent=self.headers.get("User-Agent", ""),
            )
            server.count(request)
            try:
                injected = server.faults.take()
                if injected is not None:
                    raise injected
                code, body = handle(server.store, request)
            except ApiError as error:
                self._send(error.code, error.body(), retry_after=error.retry_after)
                return
            self._send(code, body)

        def _send(self, code: int, body: dict[str, Any], *, retry_after: int | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (the stdlib names them)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the counts, not an access log."""

    return Handler
