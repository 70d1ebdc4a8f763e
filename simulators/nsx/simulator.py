"""Start and stop the fake NSX Manager on loopback, seed platform-owned objects, turn test knobs.

Tests, benchmarks and the demo use ``NsxSimulator``; see docs/simulators/nsx.md for what it fakes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from simulators.nsx.server import Api, Handler, Injection
from simulators.nsx.store import Store
from simulators.serving import LoopbackServer, ServedInThread

TRANSPORT_ZONE = "/infra/sites/default/enforcement-points/default/transport-zones/overlay-tz"
PREDEFINED: dict[str, dict[str, Any]] = {
    "/infra/services/HTTP": {
        "service_entries": [{"l4_protocol": "TCP", "destination_ports": ["80"]}]
    },
    "/infra/services/HTTPS": {
        "service_entries": [{"l4_protocol": "TCP", "destination_ports": ["443"]}]
    },
    "/infra/services/SSH": {
        "service_entries": [{"l4_protocol": "TCP", "destination_ports": ["22"]}]
    },
    "/infra/lb-app-profiles/default-http-lb-app-profile": {},
    "/infra/lb-app-profiles/default-tcp-lb-app-profile": {},
    "/infra/lb-client-ssl-profiles/default-balanced-client-ssl-profile": {},
    "/infra/lb-monitor-profiles/default-http-lb-monitor": {},
}


class NsxSimulator(ServedInThread):
    """A fake NSX Manager serving the Policy API subset RXT Deploy uses, over plain HTTP.

    Seeded with the ``default`` domain, the tier-1 gateways in ``tier1s`` (``acme-t1``), the
    load-balancer services in ``lb_services`` (name -> tier-1) and NSX's predefined services
    and profiles. Everything else starts empty.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        username: str = "admin",
        password: str = "VMware1!VMware1!",  # noqa: S107 - a fake manager's fixed test login
        tier1s: tuple[str, ...] = ("acme-t1",),
        lb_services: Mapping[str, str] | None = None,
        page_size: int = 1000,
        delete_ticks: int = 2,
        realization_polls: int = 1,
    ) -> None:
        self.username, self.password = username, password
        self.store = Store(delete_ticks=delete_ticks)
        self.store.realization.polls = realization_polls
        self.api = Api(self.store, username=username, password=password, page_size=page_size)
        self._seed(tier1s, lb_services if lb_services is not None else {"acme-lb": "acme-t1"})
        handler = type("BoundHandler", (Handler,), {"api": self.api})
        self._server = LoopbackServer(("127.0.0.1", port), handler)

    def _seed(self, tier1s: tuple[str, ...], lb_services: Mapping[str, str]) -> None:
        self.store.external_paths.add(TRANSPORT_ZONE)
        self.store.seed("/infra/domains/default", {})
        for name in tier1s:
            self.store.seed(
                f"/infra/tier-1s/{name}",
                {"tier0_path": "/infra/tier-0s/t0", "failover_mode": "NON_PREEMPTIVE"},
                system_owned=False,
            )
        for name, tier1 in lb_services.items():
            body = {
                "connectivity_path": f"/infra/tier-1s/{tier1}",
                "size": "SMALL",
                "enabled": True,
            }
            self.store.seed(f"/infra/lb-services/{name}", body, system_owned=False)
        for path, body in PREDEFINED.items():
            self.store.seed(path, body)

    # --- test knobs ------------------------------------------------------------------------

    @property
    def requests(self) -> Counter[tuple[str, str]]:
        """How many requests came in, by (method, URL path without query)."""
        return self.api.requests

    def writes(self) -> list[tuple[str, str, Any]]:
        """Every PATCH and PUT body received, decoded, as (method, URL path, body)."""
        with self.api.lock:
            return list(self.api.writes)

    def calls(self, method: str = "", *, path_prefix: str = "") -> int:
        """The number of requests matching ``method`` (any when empty) and a path prefix."""
        return sum(
            count
            for (verb, path), count in self.api.requests.items()
            if (not method or verb == method) and path.startswith(path_prefix)
        )

    def inject(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        error_code: int = 0,
        method: str = "",
        path: str = "",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429, 503, 500/607...)."""
        with self.api.lock:
            self.api.injections.append(
                Injection(status, times, retry_after, error_code, method, path)
            )

    def fail_realization(self, path: str, message: str = "Realization failed") -> None:
        """Make ``path`` report realization state ERROR with one alarm carrying ``message``."""
        with self.api.lock:
            self.store.realization.failures[path] = message

    def set_realization(self, *, polls: int = 1, seconds: float = 0.0) -> None:
        """Written objects report IN_PROGRESS for ``polls`` polls and ``seconds`` seconds."""
        with self.api.lock:
            self.store.realization.polls, self.store.realization.seconds = polls, seconds

    def pin(self, path: str, *, by: str) -> None:
        """Make something outside the policy tree (a VM port) hold on to ``path``."""
        with self.api.lock:
            self.store.pins.setdefault(path, set()).add(by)

    def expire_sessions(self) -> None:
        """Forget every session, as a manager restart or a session timeout does."""
        with self.api.lock:
            self.api.sessions.clear()

    def revision(self, path: str) -> int:
        """The current ``_revision`` of the live object at ``path``."""
        with self.api.lock:
            return self.store.live(path).revision

    def paths(self, prefix: str = "/infra/") -> list[str]:
        """Every live object path under ``prefix``, sorted."""
        with self.api.lock:
            return sorted(
                p for p, r in self.store.records.items() if r.live and p.startswith(prefix)
            )
