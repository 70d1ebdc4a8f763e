"""The demo's side of the tenant API (``/api/v1``): the operator grants the tenant its sites and
an admin token, the tenant's admin registers the repository, and the scenes read environments,
plans, runs and drift reports and ask for drift checks, as a tenant's tooling would.
``rxt.demo.scenes`` calls it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import RxtError

_TIMEOUT = 10.0


class TenantApiFailed(RxtError):
    """The tenant API answered the demo with an error."""


@dataclass(frozen=True)
class Registered:
    """What the registration made: the repository's id and each environment's id by name."""

    repository_id: int
    environments: Mapping[str, int]


class TenantApi:
    """Calls ``/api/v1`` with one bearer token; every answer that is not a success is a
    ``TenantApiFailed`` naming the call and the problem the API described."""

    def __init__(self, api_url: str, *, token: str) -> None:
        self.base = f"{api_url}/api/v1"
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, *, body: object = None, expect: int = 200) -> Any:
        answer = httpx.request(
            method, f"{self.base}{path}", json=body, headers=self.headers, timeout=_TIMEOUT
        )
        if answer.status_code != expect:
            raise TenantApiFailed(
                f"{method} /api/v1{path} was answered {answer.status_code}: {answer.text[:400]}",
                hint="the tenant API described the problem above; see docs/api.md",
            )
        return answer.json()

    def environment(self, environment_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/environments/{environment_id}")
        return found

    def plan(self, plan_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/plans/{plan_id}")
        return found

    def run(self, run_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/runs/{run_id}")
        return found

    def drift_report(self, report_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/drift-reports/{report_id}")
        return found

    def check_drift(self, environment_id: int, *, reason: str) -> dict[str, Any]:
        """Queue a drift check of the environment; the engine's workers run it."""
        path = f"/environments/{environment_id}/drift-checks"
        found: dict[str, Any] = self.call("POST", path, body={"reason": reason}, expect=202)
        return found


def grant(api_url: str, *, operator_token: str, tenant: str, sites: Sequence[str]) -> TenantApi:
    """The operator grants ``tenant`` its sites and makes its admin token; returns the
    tenant admin's view of the API."""
    operator = TenantApi(api_url, token=operator_token)
    operator.call("PUT", f"/tenants/{tenant}/sites", body={"sites": list(sites)})
    made = operator.call("POST", f"/tenants/{tenant}/tokens", expect=201,
                         body={"name": "demo-admin", "role": "admin"})  # fmt: skip
    return TenantApi(api_url, token=str(made["token"]))


def register(
    api: TenantApi,
    *,
    url: str,
    webhook_secret_ref: Mapping[str, str],
    environments: Mapping[str, Mapping[str, Any]],
) -> Registered:
    """Register the repository at ``url`` with each environment's ``environment.yaml``."""
    body = {
        "url": url, "branch": "main", "webhookSecretRef": dict(webhook_secret_ref),
        "environments": [
            {"name": name, "path": f"environments/{name}", "manifest": dict(manifest)}
            for name, manifest in environments.items()
        ],
    }  # fmt: skip
    made = api.call("POST", "/repositories", body=body, expect=201)
    ids = {str(env["name"]): int(env["id"]) for env in made["environments"]}
    return Registered(int(made["id"]), ids)
