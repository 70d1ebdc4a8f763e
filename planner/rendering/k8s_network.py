"""The NetworkPolicy of a Kubernetes app, from its ``network`` block (allowFrom and egress).

Called by ``planner.rendering.kubernetes.render_app``. Apps placed on VMs cannot be matched by a
pod selector, so an ``allowFrom`` naming one admits nothing on Kubernetes (the NSX side has it).
"""

from __future__ import annotations

from core.resources import DesiredResource, JsonObject, ResourceRef
from planner.manifests import Application
from planner.placement import Target
from planner.rendering.common import LABEL_APP, RenderContext
from planner.rendering.k8s_objects import k8s_object, selector, wrap

# Pods resolve names; an egress policy without DNS would break every lookup.
_DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def parse_egress(rule: str) -> tuple[str, int | None]:
    """``"10.20.0.0/16:5432"`` as ``("10.20.0.0/16", 5432)``; a bare address becomes a /32."""
    address, _, port = rule.partition(":")
    cidr = address if "/" in address else f"{address}/32"
    return cidr, int(port) if port else None


def _app_ports(app: Application) -> list[JsonObject]:
    return [{"protocol": p.protocol, "port": p.port} for p in app.spec.ports]


def _peer(name: str) -> JsonObject:
    return {"podSelector": {"matchLabels": {LABEL_APP: name}}}


def _ingress_rules(ctx: RenderContext, app: Application) -> list[JsonObject]:
    allowed = app.spec.network.allow_from
    peers = [_peer(name) for name in allowed if ctx.is_on(name, Target.KUBERNETES)]
    rules: list[JsonObject] = []
    if peers:
        rule: JsonObject = {"from": peers}
        if app.spec.ports:
            rule["ports"] = _app_ports(app)
        rules.append(rule)
    expose = app.spec.expose
    if expose is not None:
        # The ingress controller lives in another namespace: admit any namespace on that port.
        port = next(p for p in app.spec.ports if p.name == expose.port)
        rules.append(
            {
                "from": [{"namespaceSelector": {}}],
                "ports": [{"protocol": port.protocol, "port": port.port}],
            }
        )
    return rules


def _egress_rules(ctx: RenderContext, app: Application) -> list[JsonObject]:
    rules: list[JsonObject] = [{"ports": list(_DNS_PORTS)}]
    for text in app.spec.network.egress:
        cidr, port = parse_egress(text)
        rule: JsonObject = {"to": [{"ipBlock": {"cidr": cidr}}]}
        if port is not None:
            rule["ports"] = [{"protocol": "TCP", "port": port}]
        rules.append(rule)
    name = app.metadata.name
    for peer in ctx.admitting(name, Target.KUBERNETES):
        target = ctx.apps[peer]
        rule = {"to": [_peer(peer)]}
        if target.spec.ports:
            rule["ports"] = _app_ports(target)
        rules.append(rule)
    return rules


def render_policy(
    ctx: RenderContext, app: Application, *, depends: tuple[ResourceRef, ...]
) -> DesiredResource | None:
    """The app's NetworkPolicy, or ``None`` when ``network`` restricts nothing."""
    network = app.spec.network
    if not network.allow_from and not network.egress:
        return None
    name = app.metadata.name
    owner = ctx.owner(name, "network-policy")
    body = k8s_object(
        ctx, kind="NetworkPolicy", api="networking.k8s.io/v1", name=name, owner=owner, app=name
    )
    spec: JsonObject = {"podSelector": {"matchLabels": selector(name)}, "policyTypes": []}
    if network.allow_from:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = _ingress_rules(ctx, app)
    if network.egress:
        spec["policyTypes"].append("Egress")
        spec["egress"] = _egress_rules(ctx, app)
    body["spec"] = spec
    return wrap(ctx, body, owner, depends_on=depends)
