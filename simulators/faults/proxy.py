"""A fault-injecting HTTP proxy for any local simulator: 5xx answers, stalls and connection resets.

Tests and benchmarks (bar R4) put it in front of a simulator; it counts every fault it injected.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from simulators.serving import LoopbackServer, ServedInThread

KINDS = ("5xx", "timeout", "reset")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
    }
)
ERROR_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    """One decision: which fault, and whether the request reached the upstream first."""

    kind: str
    after_upstream: bool


class Faults:
    """The seeded dice of the proxy; one lock so the sequence is the same for the same seed."""

    def __init__(self, *, rate: float, kinds: tuple[str, ...], seed: int, after_share: float):
        unknown = set(kinds) - set(KINDS)
        if unknown or not 0 <= rate <= 1:
            raise ValueError(f"bad fault settings: rate {rate}, unknown kinds {sorted(unknown)}")
        self.rate, self.kinds, self.after_share = rate, kinds, after_share
        self.rng = random.Random(seed)  # noqa: S311 - reproducible fault dice, not secrets
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0

    def roll(self) -> Fault | None:
        with self.lock:
            self.requests += 1
            if not self.kinds or self.rng.random() >= self.rate:
                return None
            fault = Fault(self.rng.choice(self.kinds), self.rng.random() < self.after_share)
            phase = "after" if fault.after_upstream else "before"
            self.injected[f"{fault.kind}:{phase}"] += 1
            return fault

    def error_status(self) -> int:
        with self.lock:
            return self.rng.choice(ERROR_STATUSES)


class ProxyHandler(BaseHTTPRequestHandler):
    """Forwards one client connection's requests upstream, unless the dice say otherwise."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    proxy: FaultProxy  # set on the subclass each proxy builds
    _upstream: http.client.HTTPConnection | None = None

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.proxy.faults.roll()
        answer = None
        if fault is None or fault.after_upstream:
            answer = self._forward(body)
        if fault is None and answer is not None:
            self._relay(*answer)
        elif fault is not None:
            self._inject(fault)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for _ in range(2):  # a kept-alive upstream connection may have gone stale
            try:
                connection = self._connection()
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (OSError, http.client.HTTPException):
                self._drop_upstream()
        self._send(502, [], json.dumps({"error": "upstream unreachable"}).encode())
        return None

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            host, port = self.proxy.upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=30)
        return self._upstream

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _relay(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        self._send(status, kept, payload)

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _inject(self, fault: Fault) -> None:
        if fault.kind == "5xx":
            status = self.proxy.faults.error_status()
            body = {"error": f"injected {status}", "injected_by": "fault proxy"}
            self._send(status, [("Content-Type", "application/json")], json.dumps(body).encode())
            return
        if fault.kind == "timeout":
            self.proxy.stopping.wait(self.proxy.stall_seconds)  # the client gives up first
        else:  # reset: close with SO_LINGER 0, which sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def finish(self) -> None:
        self._drop_upstream()
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the proxy reports through its counters."""


class FaultProxy(ServedInThread):
    """An HTTP proxy on loopback in front of ``upstream`` that fails a share of requests.

    Args:
        upstream: the simulator's base URL, ``http://127.0.0.1:PORT``.
        rate: the share of requests (0..1) that get a fault.
        kinds: which faults to draw from, evenly: ``5xx`` (500/502/503/504), ``timeout``
            (the request stalls ``stall_seconds`` then the connection closes), ``reset``.
        after_share: the share of faults injected after the upstream handled the request, so
            the write happened but its answer is lost.
        seed: the same seed gives the same sequence of decisions.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        kinds: tuple[str, ...] = KINDS,
        stall_seconds: float = 1.0,
        after_share: float = 0.5,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = Faults(rate=rate, kinds=kinds, seed=seed, after_share=after_share)
        self.stall_seconds = stall_seconds
        self.stopping = threading.Event()
        handler = type("BoundProxyHandler", (ProxyHandler,), {"proxy": self})
        self._server = LoopbackServer(("127.0.0.1", port), handler)

    @property
    def injected(self) -> Counter[str]:
        """Faults injected so far, by ``kind:phase`` (``timeout:after``, ``5xx:before``...)."""
        return self.faults.injected

    @property
    def requests(self) -> int:
        return self.faults.requests

    def _stopping(self) -> None:
        self.stopping.set()  # stalled requests stop waiting, so shutdown need not wait for them
