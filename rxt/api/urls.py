"""Refusing URLs that would turn the engine against its own network (bar R11).

Repository and notification URLs must be http(s) and name hosts whose every address is public,
unless the operator allowed the host (``RXT_ALLOWED_HOSTS``), private networks
(``RXT_ALLOW_PRIVATE_NETWORKS``) or another scheme (``RXT_ALLOWED_URL_SCHEMES``). The tenant API
checks URLs on registration; ``GuardedTransport`` checks every hop an HTTP client makes,
redirects included, before a byte is sent, and connects only to the addresses it checked
(``CheckedBackend``), so a name that resolves elsewhere the second time gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpcore
import httpx

from core.errors import ConfigError

Resolver = Callable[[str], Sequence[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ConfigError):
    """A URL the engine will not fetch or post to; the message names the host, never content."""


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to on this machine (IP literals resolve to themselves)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs may be reached.

    Args:
        allowed_hosts: host names, ``host:port`` pairs or networks (CIDR) the operator allowed
            even though they are private.
        allow_private_networks: allow every non-public address (a lab with no tenants).
        schemes: the schemes allowed; ``file`` or ``ssh`` only when the operator adds them.
        resolver: host name to addresses; the system's by default.
    """

    allowed_hosts: frozenset[str] = frozenset()
    allow_private_networks: bool = False
    schemes: frozenset[str] = frozenset({"https", "http"})
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def of(
        cls,
        *,
        allowed_hosts: Iterable[str] = (),
        allow_private_networks: bool = False,
        schemes: Iterable[str] = ("https", "http"),
        resolver: Resolver = system_resolver,
    ) -> UrlPolicy:
        hosts = frozenset(_host_key(host) for host in allowed_hosts)
        return cls(hosts, allow_private_networks, frozenset(s.lower() for s in schemes), resolver)

    def check(self, url: str, *, what: str = "URL") -> httpx.URL:
        """The parsed URL when it may be reached.

        Raises:
            UrlRefused: naming the host and the reason, with a hint for the operator.
        """
        # Parsers disagree on these, so what we check could differ from what Git fetches.
        if any(char in url for char in "\\\t\r\n ") or not url.isprintable():
            raise UrlRefused(f"{what} holds a backslash, space or control character", hint=_HINT)
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise UrlRefused(f"{what} is not a valid URL", hint=_HINT) from None
        if parsed.userinfo:
            raise UrlRefused(
                f"{what} carries credentials", hint="register them as a credentials reference"
            )
        scheme = parsed.scheme.lower()
        if scheme not in self.schemes:
            raise UrlRefused(f"{what} uses the scheme {scheme or '(none)'!r}", hint=_HINT)
        host = _host_key(parsed.host)
        if scheme == "file":
            return parsed
        if not host:
            raise UrlRefused(f"{what} names no host", hint=_HINT)
        if self._host_allowed(host, parsed.port):
            return parsed
        self._check_addresses(host, what=what)
        return parsed

    def _host_allowed(self, host: str, port: int | None) -> bool:
        if host in self.allowed_hosts or (port and f"{host}:{port}" in self.allowed_hosts):
            return True
        address = _address(host)
        return address is not None and any(address in network for network in self._networks())

    def _networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        networks = []
        for entry in self.allowed_hosts:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        return networks

    def addresses(self, host: str, port: int | None, *, what: str = "connection") -> list[str]:
        """What to connect to for ``host``: its addresses, resolved once and each checked; the
        name itself for a host the operator allowed by name (it may resolve anywhere).

        Raises:
            UrlRefused: the host does not resolve, or one of its addresses is not public.
        """
        key = _host_key(host)
        if self._host_allowed(key, port):
            return [host]
        return [str(address) for address in self._check_addresses(key, what=what)]

    def _check_addresses(self, host: str, *, what: str) -> list[Address]:
        literal = _address(host)
        found = [literal] if literal else [_address(a) for a in self.resolver(host)]
        addresses = [a for a in found if a is not None]
        if not addresses:
            raise UrlRefused(f"{what} host {host!r} does not resolve", hint=_HINT)
        if self.allow_private_networks:
            return addresses
        allowed = self._networks()
        for address in addresses:
            kind = private_kind(address)
            if kind and not any(address in network for network in allowed):
                raise UrlRefused(f"{what} host {host!r} is {kind} ({address})", hint=_HINT)
        return addresses


_HINT = (
    "use an https URL of a public host; an operator may allow a host with RXT_ALLOWED_HOSTS, "
    "private networks with RXT_ALLOW_PRIVATE_NETWORKS, or a scheme with RXT_ALLOWED_URL_SCHEMES"
)


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


def private_kind(address: Address) -> str:
    """Why an address is not public ("loopback", "link-local", ...), or "" when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return private_kind(embedded)
    for kind, test in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if test:
            return kind
    return "" if address.is_global else "not public"


class CheckedBackend(httpcore.NetworkBackend):
    """Opens connections only to addresses a ``UrlPolicy`` accepts, resolving each name once and
    connecting to exactly the addresses it checked, so a DNS answer that changes between the
    check and the connection (rebinding) cannot steer it to a private address. TLS still checks
    the certificate against the name: httpcore passes it as the server name, not the address.
    """

    def __init__(self, policy: UrlPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failed: httpcore.ConnectError | None = None
        for address in self.policy.addresses(host, port):
            try:
                return self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
            except httpcore.ConnectError as error:
                failed = error  # the next address, as a resolver-driven client would
        raise failed or httpcore.ConnectError(f"no address to connect to for {host}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("connections to checked URLs are TCP only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, opening its connections through a ``CheckedBackend``."""

    def __init__(self, policy: UrlPolicy) -> None:
        super().__init__(trust_env=False)
        # httpx takes no network backend, so its pool is replaced by one with ours; the
        # rebinding test in tests/rxt/test_tenant_api_urls.py fails if this stops working.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=CheckedBackend(policy),
        )


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks each request against a ``UrlPolicy`` before sending it,
    and sends it through a ``PinnedTransport`` unless given another.

    A client following redirects sends every hop through here, so a public host answering
    ``302 Location: http://169.254.169.254/`` is refused before the second request leaves.
    """

    def __init__(self, policy: UrlPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or PinnedTransport(policy)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.policy.check(str(request.url), what="request URL")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def guarded_client(policy: UrlPolicy, *, timeout: float = 10.0, redirects: int = 5) -> httpx.Client:
    """An HTTP client for repository and notification traffic that obeys ``policy`` per hop."""
    return httpx.Client(
        transport=GuardedTransport(policy),
        follow_redirects=True,
        max_redirects=redirects,
        timeout=timeout,
        trust_env=False,
    )
