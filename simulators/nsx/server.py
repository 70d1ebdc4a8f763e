"""The fake NSX Manager's HTTP side: authentication, routing, error bodies, injected faults.

Tests and the demo start ``NsxSimulator`` on a loopback port; it serves plain HTTP, not HTTPS.
"""

from __future__ import annotations

import base64
import http
import json
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulators.nsx.hierarchy import patch_infra
from simulators.nsx.model import API_PREFIX, ApiError, kind_of
from simulators.nsx.store import Store

SESSION_COOKIE = "JSESSIONID"
XSRF_HEADER = "X-XSRF-TOKEN"
REALIZED_ENTITIES = "/infra/realized-state/realized-entities"
REALIZED_STATUS = "/infra/realized-state/status"
CONSOLIDATED = {"REALIZED": "SUCCESS", "IN_PROGRESS": "IN_PROGRESS", "ERROR": "ERROR"}


@dataclass
class Injection:
    """The next ``times`` requests matching ``method`` and ``path`` get ``status``."""

    status: int
    times: int
    retry_after: int | None = None
    error_code: int = 0
    method: str = ""
    path: str = ""

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or self.method == method) and path.startswith(self.path)


class Answer(Exception):
    """A finished response, raised from deep inside routing."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class Api:
    """Everything the HTTP handler needs, shared by all connections under one lock."""

    def __init__(self, store: Store, *, username: str, password: str, page_size: int) -> None:
        self.store = store
        self.username, self.password = username, password
        self.page_size = page_size
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.injections: list[Injection] = []
        self.sessions: dict[str, str] = {}  # JSESSIONID -> XSRF token
        self.writes: list[tuple[str, str, Any]] = []  # (method, path, decoded body), in order

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Answer:
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.store.tick()
            self.requests[(method, url.path)] += 1
            if method in ("PATCH", "PUT") and url.path.startswith(API_PREFIX):
                self.writes.append((method, url.path, _json_or_none(body)))
            try:
                self._inject(method, url.path)
                if url.path == "/api/session/create" and method == "POST":
                    return self._create_session(body)
                user = self._authenticate(method, headers)
                return self._route(method, url.path, query, body, user=user)
            except ApiError as error:
                return error_answer(error)
            except Answer as answer:
                return answer

    def _inject(self, method: str, path: str) -> None:
        for injection in self.injections:
            if injection.times > 0 and injection.matches(method, path):
                injection.times -= 1
                headers = {}
                if injection.retry_after is not None:
                    headers["Retry-After"] = str(injection.retry_after)
                message = f"Injected {injection.status} for {method} {path}."
                raise ApiError(injection.status, injection.error_code, message, headers=headers)

    def _create_session(self, body: bytes) -> Answer:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if (form.get("j_username"), form.get("j_password")) != (self.username, self.password):
            raise ApiError(403, 403, "The credentials were incorrect or the account is locked.")
        session, xsrf = secrets.token_hex(16), secrets.token_hex(16)
        self.sessions[session] = xsrf
        cookie = f"{SESSION_COOKIE}={session}; Path=/; HttpOnly"
        return Answer(200, None, {"Set-Cookie": cookie, XSRF_HEADER: xsrf})

    def _authenticate(self, method: str, headers: Any) -> str:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
            if (user, password) != (self.username, self.password):
                raise ApiError(403, 403, "The credentials were incorrect or the account is locked.")
            return user
        session = _cookie(headers.get("Cookie", ""), SESSION_COOKIE)
        if session is None or session not in self.sessions:
            raise ApiError(401, 401, "Authentication required: basic auth or a valid session.")
        if method != "GET" and headers.get(XSRF_HEADER) != self.sessions[session]:
            raise ApiError(403, 98, "Bad XSRF token.")
        return self.username

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes, *, user: str
    ) -> Answer:
        if path == "/api/session/destroy" and method == "POST":
            return Answer(200, None)
        if not path.startswith(API_PREFIX + "/infra"):
            raise ApiError(404, 202, f"No such API: {method} {path}.")
        policy_path = path[len(API_PREFIX) :].rstrip("/")
        if policy_path in (REALIZED_ENTITIES, REALIZED_STATUS) and method == "GET":
            return self._realization(policy_path, query)
        if policy_path == "/infra":
            return self._infra(method, query, body, user=user)
        if policy_path.count("/") % 2 == 0:  # /infra/segments is a collection
            if method != "GET":
                raise ApiError(405, 202, f"{method} is not allowed on a collection.")
            return Answer(200, self._list(policy_path, query))
        return self._object(method, policy_path, query, body, user=user)

    def _infra(self, method: str, query: dict[str, str], body: bytes, *, user: str) -> Answer:
        if method == "GET":
            return Answer(200, {"resource_type": "Infra", "id": "infra", "path": "/infra"})
        if method != "PATCH":
            raise ApiError(405, 202, f"{method} /infra is not supported.")
        enforce = query.get("enforce_revision_check", "false") == "true"
        patch_infra(self.store, _json(body), user=user, enforce_revision=enforce)
        return Answer(200, None)

    def _object(
        self, method: str, path: str, query: dict[str, str], body: bytes, *, user: str
    ) -> Answer:
        kind_of(path)
        if method == "GET":
            return Answer(200, self.store.view(self.store.live(path)))
        if method == "DELETE":
            with self.store.transaction():
                self.store.delete(path)
            return Answer(200, None)
        if method not in ("PATCH", "PUT"):
            raise ApiError(405, 202, f"{method} is not allowed on {path}.")
        payload = _json(body)
        if not isinstance(payload, dict):
            raise ApiError(400, 500012, "The body must be a JSON object.")
        with self.store.transaction():
            revision = "require" if method == "PUT" else "check"
            record = self.store.write(
                path, payload, replace=method == "PUT", user=user, revision=revision
            )
        # PATCH answers with no body, PUT with the object as stored.
        return Answer(200, self.store.view(record) if method == "PUT" else None)

    def _list(self, collection: str, query: dict[str, str]) -> dict[str, Any]:
        kind_of(f"{collection}/any")  # 404 for a collection the fake does not serve
        parent, name = collection.rsplit("/", 1)
        hidden = query.get("include_mark_for_delete_objects") == "true"
        records = self.store.children(parent, name, hidden=hidden)
        size = min(int(query.get("page_size", self.page_size)), self.page_size)
        start = int(query.get("cursor") or 0)
        page = records[start : start + size]
        out: dict[str, Any] = {
            "results": [self.store.view(r, with_rules=False) for r in page],
            "result_count": len(records),
            "sort_by": "path",
        }
        if start + size < len(records):
            out["cursor"] = str(start + size)
        return out

    def _realization(self, endpoint: str, query: dict[str, str]) -> Answer:
        intent = query.get("intent_path", "")
        state, alarms = self.store.realization_state(intent)
        if endpoint == REALIZED_STATUS:
            return Answer(
                200, {"consolidated_status": {"consolidated_status": CONSOLIDATED[state]}}
            )
        record = self.store.live(intent)
        entity = {
            "resource_type": "GenericPolicyRealizedResource",
            "id": record.unique_id,
            "path": f"{intent}/realized/{record.unique_id}",
            "intent_paths": [intent],
            "entity_type": record.kind.entity_type,
            "state": state,
            "alarms": alarms,
            "realization_specific_identifier": record.unique_id,
        }
        return Answer(200, {"results": [entity], "result_count": 1})


def error_answer(error: ApiError) -> Answer:
    body = {
        "httpStatus": http.HTTPStatus(error.status).name,
        "error_code": error.error_code,
        "module_name": "Policy" if error.status not in (401, 403) else "common-services",
        "error_message": error.message,
    }
    return Answer(error.status, body, error.headers)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise ApiError(400, 500012, f"The body is not JSON: {error}.") from error


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class Handler(BaseHTTPRequestHandler):
    """One connection; keeps it alive across requests as NSX Manager does."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without this, Nagle's algorithm and delayed
    # ACKs add about 40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    api: Api  # set on the subclass the simulator builds
    timeout = 30

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.api.handle(self.command, self.path, self.headers, body)
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests count requests through ``Api.requests`` instead."""
