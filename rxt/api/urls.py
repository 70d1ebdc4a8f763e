"""Refusing URLs that would turn the engine against its own network (bar R11).

Repository and notification URLs must be http(s) and name hosts whose every address is public,
unless the operator allowed the host (``RXT_ALLOWED_HOSTS``), private networks
(``RXT_ALLOW_PRIVATE_NETWORKS``) or another scheme (``RXT_ALLOWED_URL_SCHEMES``). The tenant API
checks URLs on registration; ``GuardedTransport`` checks every hop an HTTP client makes,
redirects included, before a byte is sent.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

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

    def _check_addresses(self, host: str, *, what: str) -> None:
        literal = _address(host)
        found = [literal] if literal else [_address(a) for a in self.resolver(host)]
        addresses = [a for a in found if a is not None]
        if not addresses:
            raise UrlRefused(f"{what} host {host!r} does not resolve", hint=_HINT)
        if self.allow_private_networks:
            return
        for address in addresses:
            kind = private_kind(address)
            if kind:
                raise UrlRefused(f"{what} host {host!r} is {kind} ({address})", hint=_HINT)


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


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that checks each request against a ``UrlPolicy`` before sending it.

    A client following redirects sends every hop through here, so a public host answering
    ``302 Location: http://169.254.169.254/`` is refused before the second request leaves.
    """

    def __init__(self, policy: UrlPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.HTTPTransport()

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
