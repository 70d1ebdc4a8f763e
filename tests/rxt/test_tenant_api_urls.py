"""Bar R11: repository, notification and forge API URLs aimed at loopback, link-local, private
ranges, ``file://`` and other schemes, names resolving there, and redirects there are refused
with problem details unless the operator allowed them; no upstream byte reaches an error.

Only IP literals, ``localhost`` names and a fake resolver are used; the one server is local."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rxt.api.urls import GuardedTransport, UrlPolicy, UrlRefused, guarded_client
from state.checkpoints import SigningKey
from state.database import Database
from tests.conftest import free_port
from tests.rxt.tenant_api_world import World, build_world, environment_manifest, fake_resolver, one
from tests.state.conftest import (  # noqa: F401 - fixtures shared with the state store's tests
    FakeClock,
    clock,
    database,
    key,
    postgres_url,
    sqlite_template,
)

CANARY = "UPSTREAM-CANARY-93c1"

REFUSED = [
    "http://127.0.0.1/acme/web.git",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.5/",
    "http://172.16.1.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://internal.example.com/acme.git",
    "http://metadata.example.com/",
    "http://rebind.example.com/",
    "http://v6local.example.com/",
    "http://nowhere.example.com/",
    "https://git.example.com@127.0.0.1/acme.git",
    "https://user:hunter2@git.example.com/acme.git",
    "http://127.0.0.1\\@git.example.com/",
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "ftp://git.example.com/acme.git",
    "gopher://127.0.0.1:6379/_INFO",
    "ssh://git@git.example.com/acme.git",
    "git://git.example.com/acme.git",
    "dict://127.0.0.1:11211/",
    "javascript:alert(1)",
    "http:///no-host",
    "not a url",
]
ACCEPTED = ["https://git.example.com/acme/web.git", "http://93.184.216.34:8443/acme.git"]


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_into_the_engines_own_network_is_refused_by_default(url: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        UrlPolicy.of(resolver=fake_resolver).check(url)
    assert "hunter2" not in refused.value.render()


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_public_http_url_is_accepted(url: str) -> None:
    assert UrlPolicy.of(resolver=fake_resolver).check(url).host


@pytest.mark.parametrize(
    ("url", "allowance"),
    [
        ("http://127.0.0.1:3000/acme.git", {"allowed_hosts": ["127.0.0.1:3000"]}),
        ("http://gitea.localhost/acme.git", {"allowed_hosts": ["gitea.localhost"]}),
        ("http://10.20.30.40/acme.git", {"allowed_hosts": ["10.20.0.0/16"]}),
        ("http://internal.example.com/acme.git", {"allowed_hosts": ["10.1.0.0/16"]}),
        ("http://internal.example.com/acme.git", {"allow_private_networks": True}),
        ("file:///srv/git/acme.git", {"schemes": ["https", "file"]}),
    ],
)
def test_the_operator_may_allow_a_private_host_a_network_or_a_scheme(
    url: str, allowance: dict[str, Any]
) -> None:
    assert UrlPolicy.of(resolver=fake_resolver, **allowance).check(url) is not None


def test_an_allowed_network_covers_names_resolving_into_it_and_nothing_else() -> None:
    policy = UrlPolicy.of(allowed_hosts=["10.1.0.0/16"], resolver=fake_resolver)
    assert policy.addresses("internal.example.com", 443) == ["10.1.2.3"]
    for url in ("http://metadata.example.com/", "http://10.2.0.1/", "http://v6local.example.com/"):
        with pytest.raises(UrlRefused):
            policy.check(url)


def test_an_allowance_is_exact_another_port_or_host_stays_refused() -> None:
    policy = UrlPolicy.of(allowed_hosts=["127.0.0.1:3000"], resolver=fake_resolver)
    for url in ("http://127.0.0.1:3001/", "http://localhost:3000/", "http://[::1]:3000/"):
        with pytest.raises(UrlRefused):
            policy.check(url)


@pytest.fixture
def world(database: Database, key: SigningKey, clock: FakeClock) -> World:  # noqa: F811
    return build_world(database, key=key, clock=clock)


def _registration(url: str, notify: str | None, *, forge: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": url,
        "webhookSecretRef": {"path": "hooks/web", "key": "k"},
        "environments": [
            {"name": "web", "path": "environments/web",
             "manifest": environment_manifest("acme", "web")},
        ],
    }  # fmt: skip
    if notify is not None:
        body["notifyUrl"] = notify
    if forge is not None:  # the engine would send the tenant's forge token there
        ref = {"path": "forge/web", "key": "token"}
        body["forge"] = {"provider": "github", "apiUrl": forge, "tokenRef": ref}
    return body


def test_r11_registrations_with_refused_urls_answer_problem_details(world: World) -> None:
    token = world.tenants["acme"].tokens["deployer"]
    good = ACCEPTED[0]
    tried = refused = 0
    for url in REFUSED:
        for body in (_registration(url, None), _registration(good, url),
                     _registration(good, None, forge=url)):  # fmt: skip
            answer = one(world.app, "POST", "/api/v1/repositories", token, json=body)
            tried += 1
            problem = answer.json()
            refused += answer.status_code == 422 and problem["type"].endswith("/url-refused")
            assert answer.headers["content-type"] == "application/problem+json"
            assert "hunter2" not in answer.text
    control = _registration(good, "https://hooks.example.com/rxt",
                            forge="https://git.example.com/api/v3")  # fmt: skip
    accepted = one(world.app, "POST", "/api/v1/repositories", token, json=control)
    print(
        f"\nR11: {tried} registrations with a refused repository, notification or forge API "
        f"URL, {refused} "
        f"refused as url-refused; the public control answered {accepted.status_code}"
    )
    assert refused == tried
    assert accepted.status_code == 201


class _Redirector(BaseHTTPRequestHandler):
    """Answers /go?to=<url> with a redirect there, its body a canary; /ok with 200."""

    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        target = parse_qs(urlsplit(self.path).query).get("to", [""])[0]
        status, headers = (302, {"Location": target}) if target else (200, {})
        body = f"{CANARY} secret upstream bytes".encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(hits: list[str]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("Handler", (_Redirector,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def servers() -> Iterator[tuple[int, list[str], int, list[str]]]:
    """The redirecting server the operator allowed, and a trap nobody allowed."""
    allowed_hits: list[str] = []
    trap_hits: list[str] = []
    running = [_serve(allowed_hits), _serve(trap_hits)]
    try:
        yield (running[0][0].server_port, allowed_hits, running[1][0].server_port, trap_hits)
    finally:
        for server, thread in running:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_r11_a_redirect_to_a_refused_address_is_not_followed(
    servers: tuple[int, list[str], int, list[str]],
) -> None:
    port, hits, trap, trap_hits = servers
    policy = UrlPolicy.of(allowed_hosts=[f"127.0.0.1:{port}"], resolver=fake_resolver)
    targets = [
        f"http://127.0.0.1:{trap}/", f"http://localhost:{trap}/", f"http://[::1]:{trap}/",
        f"http://2130706433:{trap}/", "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/", "http://internal.example.com/", "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ]  # fmt: skip
    refused = 0
    with guarded_client(policy, timeout=5) as client:
        for target in targets:
            with pytest.raises(UrlRefused) as error:
                client.get(f"http://127.0.0.1:{port}/go", params={"to": target})
            refused += 1
            assert CANARY not in str(error.value.render())
        followed = client.get(f"http://127.0.0.1:{port}/go", params={"to": "/ok"})
    print(f"\nR11: {len(targets)} redirects to refused addresses, {refused} refused before "
          f"sending, {len(trap_hits)} requests reached the unallowed server")  # fmt: skip
    assert refused == len(targets)
    assert trap_hits == []
    assert followed.status_code == 200
    assert len(hits) == len(targets) + 2


class _Recording(httpx.BaseTransport):
    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(str(request.url))
        return httpx.Response(200)


def test_the_guarded_transport_checks_before_handing_a_request_on() -> None:
    sent: list[str] = []
    transport = GuardedTransport(UrlPolicy.of(resolver=fake_resolver), inner=_Recording(sent))
    with pytest.raises(UrlRefused):
        transport.handle_request(httpx.Request("GET", "http://10.0.0.1/"))
    assert transport.handle_request(httpx.Request("GET", ACCEPTED[0])).status_code == 200
    assert sent == [ACCEPTED[0]]


class _Rebinding:
    """A DNS server that answers ``localhost`` with a public address the first time it is
    asked and with loopback after that: the classic way past a check-then-connect."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, host: str) -> list[str]:
        self.asked += 1
        if host != "localhost":
            return fake_resolver(host)
        return ["93.184.216.34"] if self.asked == 1 else ["127.0.0.1"]


def test_r11_a_name_rebound_to_loopback_after_the_check_is_never_connected_to(
    servers: tuple[int, list[str], int, list[str]],
) -> None:
    _, _, trap, trap_hits = servers
    rebinding = _Rebinding()
    client = guarded_client(UrlPolicy.of(resolver=rebinding), timeout=5)
    with client, pytest.raises(UrlRefused) as refused:
        client.get(f"http://localhost:{trap}/ok")
    # The request's check saw the public answer; the connection asked again, was told
    # loopback and refused, instead of letting the system resolver connect there.
    assert rebinding.asked == 2
    assert "is loopback (127.0.0.1)" in refused.value.message
    assert trap_hits == []


def test_a_connection_goes_to_the_address_that_was_checked(
    servers: tuple[int, list[str], int, list[str]],
) -> None:
    port, hits, _, _ = servers

    def lab(host: str) -> list[str]:  # a name only this resolver knows
        return ["127.0.0.1"] if host == "gitea.lab.test" else []

    policy = UrlPolicy.of(allow_private_networks=True, resolver=lab)
    with guarded_client(policy, timeout=5) as client:
        answer = client.get(f"http://gitea.lab.test:{port}/ok")
    assert answer.status_code == 200
    assert hits == ["/ok"]
