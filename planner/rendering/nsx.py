"""NSX intents for the apps placed on VMs: segment, group, firewall policy, pool, virtual server.

Called by ``planner.rendering.render_placed`` when the environment configures an NSX site.
Pods on Kubernetes have no NSX group, so a firewall rule can admit only VM-placed peers. The
tier-1 gateway, the tenant's load-balancer service (``<tenant>-lb``) and the TLS certificate
(``<tenant>-<env>-<app>-tls``, imported by the operator) belong to the platform: they are
referenced, never created. The virtual IP is the manifest's ``expose.vip``.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.resources import DesiredResource, JsonObject, OwnerKey, Platform, ResourceRef
from planner.manifests import Application, NsxSite
from planner.placement import Target
from planner.rendering.common import RenderContext
from planner.rendering.k8s_network import parse_egress
from planner.rendering.vms import vm_names

DOMAIN = "default"
HTTP_PROFILE = "/infra/lb-app-profiles/default-http-lb-app-profile"
SSL_PROFILE = "/infra/lb-client-ssl-profiles/default-balanced-client-ssl-profile"
HTTP_MONITOR = "/infra/lb-monitor-profiles/default-http-lb-monitor"


def _site(ctx: RenderContext) -> NsxSite:
    site = ctx.settings.spec.sites.nsx
    if site is None:
        raise AssertionError("NSX objects render only with an NSX site")  # pragma: no cover
    return site


def object_id(ctx: RenderContext, app: str, kind: str) -> str:
    """The NSX id of one of an app's objects: ``<tenant>-<env>-<app>-<kind>``."""
    return f"{ctx.prefix(app)}-{kind}"


def group_path(ctx: RenderContext, app: str) -> str:
    """The policy path of an app's group."""
    return f"/infra/domains/{DOMAIN}/groups/{object_id(ctx, app, 'group')}"


def _body(kind: str, ident: str, owner: OwnerKey) -> JsonObject:
    return {
        "resource_type": kind,
        "id": ident,
        "display_name": ident,
        "tags": [{"scope": "rxt.owner", "tag": str(owner)}],
    }


def _wrap(
    ctx: RenderContext, app: str, kind: str, component: str, fields: JsonObject, **extra: object
) -> DesiredResource:
    owner = ctx.owner(app, component)
    ident = object_id(ctx, app, component)
    scope = DOMAIN if kind in ("Group", "SecurityPolicy") else ""
    spec = {**_body(kind, ident, owner), **fields}
    ref = ResourceRef(Platform.NSX, kind, ident, scope)
    return DesiredResource(ref=ref, owner=owner, spec=spec, **extra)  # type: ignore[arg-type]


def render_segment(ctx: RenderContext, app: str) -> DesiredResource:
    """The app's own segment on the environment's tier-1 gateway."""
    fields = {"connectivity_path": f"/infra/tier-1s/{_site(ctx).tier1}"}
    return _wrap(ctx, app, "Segment", "segment", fields)


def _group(ctx: RenderContext, app: str) -> DesiredResource:
    # Members by VM name: the VMs sit on the environment's network, so a segment path
    # expression would not find them, and NSX VM tags would need a second writer.
    expression: list[JsonObject] = []
    for name in vm_names(ctx, app):
        if expression:
            expression.append(
                {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"}
            )
        expression.append(
            {
                "resource_type": "Condition",
                "member_type": "VirtualMachine",
                "key": "Name",
                "operator": "EQUALS",
                "value": name,
            }
        )
    # Name conditions reference nothing that must exist, so peers' policies may point here early.
    return _wrap(ctx, app, "Group", "group", {"expression": expression})


def _entries(ports: Sequence[tuple[str, int]]) -> JsonObject:
    if not ports:
        return {"services": ["ANY"]}
    entries = [
        {
            "resource_type": "L4PortSetServiceEntry",
            "id": f"{protocol.lower()}-{port}",
            "l4_protocol": protocol,
            "destination_ports": [str(port)],
        }
        for protocol, port in ports
    ]
    return {"services": [], "service_entries": entries}


def _rule(
    ident: str,
    *,
    src: list[str],
    dst: list[str],
    ports: Sequence[tuple[str, int]],
    action: str,
    direction: str,
) -> JsonObject:
    return {
        "resource_type": "Rule",
        "id": ident,
        "display_name": ident,
        "source_groups": src,
        "destination_groups": dst,
        **_entries(ports),
        "action": action,
        "direction": direction,
    }


def _ports(app: Application) -> list[tuple[str, int]]:
    return [(p.protocol, p.port) for p in app.spec.ports]


def _inbound(ctx: RenderContext, app: Application, own: str) -> list[JsonObject]:
    rules = [
        _rule(f"allow-from-{peer}", src=[group_path(ctx, peer)], dst=[own], ports=_ports(app),
              action="ALLOW", direction="IN")
        for peer in app.spec.network.allow_from
        if ctx.is_on(peer, Target.VM)
    ]  # fmt: skip
    if app.spec.expose is not None:
        port = next(p for p in app.spec.ports if p.name == app.spec.expose.port)
        rules.append(
            _rule("allow-load-balancer", src=["ANY"], dst=[own], ports=[(port.protocol, port.port)],
                  action="ALLOW", direction="IN")
        )  # fmt: skip
    return rules


def _outbound(ctx: RenderContext, app: Application, own: str) -> list[JsonObject]:
    rules = []
    for index, text in enumerate(app.spec.network.egress):
        cidr, port = parse_egress(text)
        ports = [("TCP", port)] if port is not None else []
        rules.append(
            _rule(f"allow-egress-{index}", src=[own], dst=[cidr], ports=ports,
                  action="ALLOW", direction="OUT")
        )  # fmt: skip
    for peer in ctx.admitting(app.metadata.name, Target.VM):
        rules.append(
            _rule(f"allow-to-{peer}", src=[own], dst=[group_path(ctx, peer)],
                  ports=_ports(ctx.apps[peer]), action="ALLOW", direction="OUT")
        )  # fmt: skip
    return rules


def _rules(ctx: RenderContext, app: Application) -> list[JsonObject]:
    """Allows first, then a default drop for each direction the app restricts."""
    own = group_path(ctx, app.metadata.name)
    rules = _inbound(ctx, app, own) + _outbound(ctx, app, own)
    if app.spec.network.allow_from:
        rules.append(
            _rule("deny-in", src=["ANY"], dst=[own], ports=[], action="DROP", direction="IN")
        )
    if app.spec.network.egress:
        rules.append(
            _rule("deny-out", src=[own], dst=["ANY"], ports=[], action="DROP", direction="OUT")
        )
    for sequence, rule in enumerate(rules, start=1):
        rule["sequence_number"] = sequence * 10
    return rules


def _policy(ctx: RenderContext, app: Application, group: ResourceRef) -> DesiredResource | None:
    rules = _rules(ctx, app)
    if not rules:
        return None
    name = app.metadata.name
    peers = tuple(
        ResourceRef(Platform.NSX, "Group", object_id(ctx, peer, "group"), DOMAIN)
        for peer in app.spec.network.allow_from
        if ctx.is_on(peer, Target.VM) and peer != name
    )
    fields = {"category": "Application", "scope": [group_path(ctx, name)], "rules": rules}
    return _wrap(ctx, name, "SecurityPolicy", "policy", fields, depends_on=(group, *peers))


def _balancer(
    ctx: RenderContext, app: Application, group: ResourceRef, vms: tuple[ResourceRef, ...]
) -> list[DesiredResource]:
    expose = app.spec.expose
    if expose is None:
        return []
    name = app.metadata.name
    port = next(p for p in app.spec.ports if p.name == expose.port)
    # Round robin with automatic SNAT are NSX's defaults; the driver reads defaults back as
    # unset, so naming them here would look like drift on every plan.
    pool_fields: JsonObject = {
        "member_group": {"group_path": group_path(ctx, name), "port": str(port.port)}
    }
    if app.spec.health is not None:
        pool_fields["active_monitor_paths"] = [HTTP_MONITOR]
    pool = _wrap(ctx, name, "LBPool", "pool", pool_fields, depends_on=(group, *vms))
    server_fields: JsonObject = {
        "ports": ["443" if expose.tls else "80"],
        "pool_path": f"/infra/lb-pools/{pool.ref.name}",
        # The load-balancer service is the platform's, one per tenant on its tier-1 gateway.
        "lb_service_path": f"/infra/lb-services/{ctx.tenant}-lb",
        "application_profile_path": HTTP_PROFILE,
    }
    # Validation requires the vip for an exposed VM app behind NSX; only a model built without
    # validation lacks it, and NSX refuses such a virtual server.
    if expose.vip is not None:
        server_fields["ip_address"] = expose.vip
    if expose.tls:
        # The operator imports this certificate into NSX; importing it from Vault is not built.
        server_fields["client_ssl_profile_binding"] = {
            "default_certificate_path": f"/infra/certificates/{object_id(ctx, name, 'tls')}",
            "ssl_profile_path": SSL_PROFILE,
        }
    server = _wrap(ctx, name, "LBVirtualServer", "vs", server_fields, depends_on=(pool.ref,))
    return [pool, server]


def render_app(
    ctx: RenderContext, app: Application, *, vms: tuple[ResourceRef, ...]
) -> list[DesiredResource]:
    """The group, firewall policy and load balancer of one VM app (the segment comes first)."""
    group = _group(ctx, app.metadata.name)
    found = [group]
    policy = _policy(ctx, app, group.ref)
    if policy is not None:
        found.append(policy)
    found.extend(_balancer(ctx, app, group.ref, vms))
    return found
