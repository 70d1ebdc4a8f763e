"""NSX objects of one app as the planner would render them, for the driver tests and benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import PlatformError
from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    OwnerKey,
    Platform,
    ResourceRef,
)
from drivers.nsx import NsxDriver
from drivers.protocol import Scope
from tests.drivers.contract import deletes_of, plan_changes

TIER1 = "/infra/tier-1s/acme-t1"
LB_SERVICE = "/infra/lb-services/acme-lb"
TRANSPORT_ZONE = "/infra/sites/default/enforcement-points/default/transport-zones/overlay-tz"
HTTP_PROFILE = "/infra/lb-app-profiles/default-http-lb-app-profile"


def app_ids(scope: Scope, app: str) -> dict[str, str]:
    base = f"rxt-{scope.tenant}-{scope.environment}-{app}"
    return {k: f"{base}-{k}" for k in ("net", "web", "fw", "pool", "vs")}


def render(
    scope: Scope, app: str, *, index: int = 0, changed: bool = False
) -> list[DesiredResource]:
    """Segment, group, security policy, pool and virtual server of one app, in create order.

    ``changed`` renders the same refs with a new description, an extra member and rule.
    """
    ids = app_ids(scope, app)
    net = f"/infra/segments/{ids['net']}"
    group = f"/infra/domains/default/groups/{ids['web']}"
    pool = f"/infra/lb-pools/{ids['pool']}"
    subnet = f"10.{index // 200}.{index % 200}"
    rules: list[dict[str, Any]] = [
        _rule("allow-https", ["ANY"], [group], "/infra/services/HTTPS", sequence=10),
    ]
    members = [{"display_name": "vm-0", "ip_address": f"{subnet}.10", "port": "8443"}]
    if changed:
        rules.append(_rule("allow-ssh", [group], [group], "/infra/services/SSH", sequence=20))
        members.append({"display_name": "vm-1", "ip_address": f"{subnet}.11", "port": "8443"})
    specs = [
        (
            "net",
            "Segment",
            "",
            {
                "connectivity_path": TIER1,
                "transport_zone_path": TRANSPORT_ZONE,
                "subnets": [{"gateway_address": f"{subnet}.1/24"}],
                **({"description": "changed"} if changed else {}),
            },
        ),
        (
            "web",
            "Group",
            "default",
            {
                "expression": [{"resource_type": "PathExpression", "paths": [net]}],
            },
        ),
        ("fw", "SecurityPolicy", "default", {"category": "Application", "rules": rules}),
        ("pool", "LBPool", "", {"members": members}),
        (
            "vs",
            "LBVirtualServer",
            "",
            {
                "ip_address": f"192.168.{index // 200}.{index % 200 + 1}",
                "ports": ["443"],
                "lb_service_path": LB_SERVICE,
                "pool_path": pool,
                "application_profile_path": HTTP_PROFILE,
            },
        ),
    ]
    return [
        _desired(
            scope,
            app=app,
            component=component,
            kind=kind,
            domain=domain,
            name=ids[component],
            fields=fields,
        )
        for component, kind, domain, fields in specs
    ]


def _rule(
    rule_id: str, sources: list[str], targets: list[str], service: str, *, sequence: int
) -> dict[str, Any]:
    return {
        "resource_type": "Rule",
        "id": rule_id,
        "display_name": rule_id,
        "action": "ALLOW",
        "source_groups": sources,
        "destination_groups": targets,
        "services": [service],
        "sequence_number": sequence,
    }


def _desired(
    scope: Scope,
    *,
    app: str,
    component: str,
    kind: str,
    domain: str,
    name: str,
    fields: dict[str, Any],
) -> DesiredResource:
    owner = OwnerKey(scope.tenant, scope.environment, app, component)
    spec = {
        "resource_type": kind,
        "id": name,
        "display_name": name,
        **fields,
        "tags": [{"scope": "rxt.owner", "tag": str(owner)}],
    }
    return DesiredResource(ResourceRef(Platform.NSX, kind, name, domain), owner, spec)


@dataclass
class Outcome:
    """How a reconcile loop ended: cycles used, whether the last plan was empty, what failed."""

    cycles: int = 0
    converged: bool = False
    changes: int = 0
    errors: list[PlatformError] = field(default_factory=list)


def plan(desired: list[DesiredResource], observed: list[ObservedResource]) -> list[Change]:
    """Creates and updates by digest, then deletes of everything observed but not desired."""
    wanted = {item.ref for item in desired}
    upserts = [c for c in plan_changes(desired, observed) if c.action is not Action.DELETE]
    return upserts + deletes_of([item for item in observed if item.ref not in wanted])


def reconcile(
    driver: NsxDriver, scope: Scope, desired: list[DesiredResource], *, cycles: int = 3
) -> Outcome:
    """Observe, plan and apply (one ``apply_many`` per app) until the plan is empty."""
    outcome = Outcome()
    for _ in range(cycles):
        outcome.cycles += 1
        try:
            changes = plan(desired, driver.observe(scope))
        except PlatformError as error:
            outcome.errors.append(error)
            continue
        if not changes:
            outcome.converged = True
            return outcome
        outcome.changes += len(changes)
        for app in dict.fromkeys(change.owner.app for change in changes):
            try:
                driver.apply_many([c for c in changes if c.owner.app == app])
            except PlatformError as error:
                outcome.errors.append(error)
    return outcome
