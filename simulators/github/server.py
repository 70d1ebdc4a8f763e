"""Start and stop the fake GitHub and GitLab on loopback, register repositories and tokens,
inject faults and read back every call. Tests, benchmarks and the demo use ``ForgeSimulator``.

GitHub's API is served at the root (as ``https://api.github.com`` serves it), GitLab's under
``/api/v4``; see docs/previews.md for what is faked and how it differs from the real services.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from simulators.github import github, gitlab
from simulators.github.records import Answer, Call, Comment, Injection, Records, Status
from simulators.serving import LoopbackServer, ServedInThread

_MAX_BODY = 4 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    records: ClassVar[Records]
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; without this, Nagle and delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the calls are recorded instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        gitlab_side = parts.path.startswith(gitlab.PREFIX + "/") or parts.path == gitlab.PREFIX
        provider = "gitlab" if gitlab_side else "github"
        raw = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), _MAX_BODY))
        body: Any = None
        with self.records.lock:
            try:
                body = json.loads(raw) if raw else None
                answer = self._answer(provider, parts.path, dict(parse_qsl(parts.query)), body)
            except json.JSONDecodeError:
                answer = Answer(400, {"message": "Problems parsing JSON"})
            except Answer as raised:
                answer = raised
            self.records.calls.append(Call(provider, self.command, parts.path, answer.status, body))
        self._send(answer)

    def _answer(self, provider: str, path: str, query: dict[str, str], body: Any) -> Answer:
        fault = self.records.injected(path)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return Answer(fault.status, {"message": "injected fault"}, headers)
        host = f"http://{self.headers.get('Host', '127.0.0.1')}"
        if provider == "gitlab":
            login, writable = gitlab.authenticate(
                self.records, self.headers.get("PRIVATE-TOKEN"), self.headers.get("Authorization")
            )
            request = github.Request(self.command, path[len(gitlab.PREFIX) :], query, body,
                                     login, writable, host + gitlab.PREFIX)  # fmt: skip
            return gitlab.route(self.records, request)
        login, writable = github.authenticate(self.records, self.headers.get("Authorization"))
        request = github.Request(self.command, path, query, body, login, writable, host)
        return github.route(self.records, request)

    def _send(self, answer: Answer) -> None:
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class ForgeSimulator(ServedInThread):
    """A fake GitHub (at the root) and GitLab (under /api/v4) on one loopback port."""

    def __init__(self, *, port: int = 0) -> None:
        self.records = Records()
        handler = type("BoundHandler", (_Handler,), {"records": self.records})
        self._server = LoopbackServer(("127.0.0.1", port), handler)

    @property
    def gitlab_url(self) -> str:
        """GitLab's API base, ``<url>/api/v4``."""
        return self.url + gitlab.PREFIX

    # --- setting up ------------------------------------------------------------------------

    def add_token(self, token: str, *, login: str = "rxt-bot", read_only: bool = False) -> None:
        """Accept ``token`` as ``login``; a read-only token gets 403 on every write."""
        with self.records.lock:
            self.records.tokens[token] = login
            if read_only:
                self.records.read_only.add(token)

    def add_repository(
        self, name: str, *, reviews: tuple[int, ...] = (), project_id: int = 0
    ) -> None:
        """A repository (``owner/name``, or a GitLab project path with ``project_id``) and the
        pull or merge request numbers open on it."""
        with self.records.lock:
            self.records.repositories.setdefault(name, set()).update(reviews)
            if project_id:
                self.records.project_ids[project_id] = name

    def inject(
        self, status: int, *, times: int = 1, path: str = "", retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` requests under ``path`` with ``status`` (429, 502...)."""
        with self.records.lock:
            self.records.injections.append(Injection(status, times, path, retry_after))

    # --- reading back ----------------------------------------------------------------------

    def calls(self, *, method: str = "", provider: str = "") -> list[Call]:
        """Every call answered, oldest first, filtered by method and provider when given."""
        with self.records.lock:
            return [
                c for c in self.records.calls
                if (not method or c.method == method) and (not provider or c.provider == provider)
            ]  # fmt: skip

    def comments(self, repository: str, number: int) -> list[Comment]:
        """The comments (or notes) on one pull or merge request, oldest first."""
        with self.records.lock:
            return sorted(self.records.thread_comments((repository, number)), key=lambda c: c.id)

    def statuses(self, sha: str) -> list[Status]:
        """Every status posted on ``sha``, oldest first."""
        with self.records.lock:
            return [s for s in self.records.statuses if s.sha == sha]
