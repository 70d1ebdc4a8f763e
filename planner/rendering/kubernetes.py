"""Kubernetes objects for the apps placed on Kubernetes, shaped as docs/resource-specs.md says.

Called by ``planner.rendering.render_placed``; NetworkPolicy rules live in ``k8s_network``.
"""

from __future__ import annotations

from core.resources import DesiredResource, JsonObject, ResourceRef
from planner.manifests import Application, SecretValue
from planner.placement import Target
from planner.rendering import k8s_network
from planner.rendering.common import (
    ANNOTATION_SECRET_ENV,
    ANNOTATION_SECRET_REFS,
    ANNOTATION_SECRET_VERSIONS,
    ENVIRONMENT_APP,
    RenderContext,
    refs_text,
    secret_env_text,
    versions_text,
)
from planner.rendering.k8s_objects import (
    bytes_text,
    cpu_text,
    k8s_object,
    namespace_of,
    selector,
    wrap,
)


def render_namespace(ctx: RenderContext) -> DesiredResource:
    """The environment's namespace, owned by the environment rather than by one app."""
    owner = ctx.owner(ENVIRONMENT_APP, "namespace")
    body = k8s_object(
        ctx, kind="Namespace", api="v1", name=namespace_of(ctx), owner=owner, app=None
    )
    return wrap(ctx, body, owner)


def _container(ctx: RenderContext, app: Application, secret_name: str) -> JsonObject:
    spec = app.spec
    container: JsonObject = {"name": app.metadata.name, "image": spec.image}
    if spec.ports:
        container["ports"] = [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in spec.ports
        ]
    env: list[JsonObject] = []
    for name, value in sorted(spec.env.items()):
        if isinstance(value, SecretValue):
            ref = {"name": secret_name, "key": name}
            env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": name, "value": value})
    if env:
        container["env"] = env
    quantities: dict[str, str] = {}
    if spec.resources.cpu is not None:
        quantities["cpu"] = cpu_text(spec.resources.cpu)
    if spec.resources.memory is not None:
        quantities["memory"] = bytes_text(spec.resources.memory)
    if quantities:
        container["resources"] = {"requests": quantities, "limits": dict(quantities)}
    if spec.health is not None:
        probe = {"httpGet": {"path": spec.health.path, "port": spec.health.port}}
        container["readinessProbe"] = probe
        container["livenessProbe"] = probe
    if spec.volumes:
        container["volumeMounts"] = [
            {"name": v.name, "mountPath": v.mount_path} for v in spec.volumes
        ]
    del ctx
    return container


def _deployment(
    ctx: RenderContext, app: Application, *, versions: str, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    name = app.metadata.name
    owner = ctx.owner(name, "deployment")
    body = k8s_object(ctx, kind="Deployment", api="apps/v1", name=name, owner=owner, app=name)
    template_meta: JsonObject = {"labels": selector(name)}
    if versions:
        template_meta["annotations"] = {ANNOTATION_SECRET_VERSIONS: versions}
    pod: JsonObject = {"containers": [_container(ctx, app, f"{name}-secrets")]}
    if app.spec.volumes:
        pod["volumes"] = [
            {"name": v.name, "persistentVolumeClaim": {"claimName": f"{name}-{v.name}"}}
            for v in app.spec.volumes
        ]
    spec: JsonObject = {
        "selector": {"matchLabels": selector(name)},
        "template": {"metadata": template_meta, "spec": pod},
    }
    if app.spec.autoscale is None:  # with an HPA the HPA owns the replica count
        spec = {"replicas": app.spec.replicas, **spec}
    body["spec"] = spec
    return wrap(ctx, body, owner, depends_on=depends, immutable=("spec.selector",))


def _secret(
    ctx: RenderContext, app: Application, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    name = app.metadata.name
    owner = ctx.owner(name, "secret")
    body = k8s_object(ctx, kind="Secret", api="v1", name=f"{name}-secrets", owner=owner, app=name)
    refs = ctx.secret_refs(app)
    body["metadata"]["annotations"].update(
        {
            ANNOTATION_SECRET_REFS: refs_text(refs),
            ANNOTATION_SECRET_VERSIONS: versions_text(refs),
            ANNOTATION_SECRET_ENV: secret_env_text(ctx.secret_envs(app)),
        }
    )
    body["type"] = "Opaque"
    return wrap(ctx, body, owner, depends_on=depends, secrets=refs)


def _service(
    ctx: RenderContext, app: Application, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    name = app.metadata.name
    owner = ctx.owner(name, "service")
    body = k8s_object(ctx, kind="Service", api="v1", name=name, owner=owner, app=name)
    ports = [
        {"name": p.name, "port": p.port, "targetPort": p.name, "protocol": p.protocol}
        for p in app.spec.ports
    ]
    body["spec"] = {"type": "ClusterIP", "selector": selector(name), "ports": ports}
    return wrap(ctx, body, owner, depends_on=depends)


def _ingress(
    ctx: RenderContext, app: Application, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    name = app.metadata.name
    expose = app.spec.expose
    assert expose is not None
    owner = ctx.owner(name, "ingress")
    body = k8s_object(
        ctx, kind="Ingress", api="networking.k8s.io/v1", name=name, owner=owner, app=name
    )
    backend = {"service": {"name": name, "port": {"name": expose.port}}}
    path = {"path": expose.path, "pathType": "Prefix", "backend": backend}
    spec: JsonObject = {"rules": [{"host": expose.host, "http": {"paths": [path]}}]}
    if expose.tls:
        spec["tls"] = [{"hosts": [expose.host], "secretName": f"{name}-tls"}]
    body["spec"] = spec
    return wrap(ctx, body, owner, depends_on=depends)


def _autoscaler(
    ctx: RenderContext, app: Application, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    name = app.metadata.name
    scale = app.spec.autoscale
    assert scale is not None
    owner = ctx.owner(name, "autoscaler")
    body = k8s_object(
        ctx, kind="HorizontalPodAutoscaler", api="autoscaling/v2", name=name, owner=owner, app=name
    )
    target = {"type": "Utilization", "averageUtilization": scale.cpu_percent}
    body["spec"] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": scale.min,
        "maxReplicas": scale.max,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
    }
    return wrap(ctx, body, owner, depends_on=depends)


def _claim(
    ctx: RenderContext, app: Application, index: int, depends: tuple[ResourceRef, ...]
) -> DesiredResource:
    volume = app.spec.volumes[index]
    name = app.metadata.name
    owner = ctx.owner(name, f"volume-{volume.name}")
    body = k8s_object(
        ctx,
        kind="PersistentVolumeClaim",
        api="v1",
        name=f"{name}-{volume.name}",
        owner=owner,
        app=name,
    )
    body["spec"] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": bytes_text(volume.size)}},
    }
    return wrap(ctx, body, owner, depends_on=depends, immutable=("spec.accessModes",))


def render_app(
    ctx: RenderContext, app: Application, namespace: ResourceRef
) -> list[DesiredResource]:
    """Every Kubernetes object of one app, each depending on what must exist before it."""
    base = (namespace,)
    found: list[DesiredResource] = []
    prior: list[ResourceRef] = [namespace]
    refs = ctx.secret_refs(app)
    if refs:
        found.append(_secret(ctx, app, base))
    found.extend(_claim(ctx, app, index, base) for index in range(len(app.spec.volumes)))
    policy = k8s_network.render_policy(ctx, app, depends=base)
    if policy is not None:
        found.append(policy)
    prior.extend(item.ref for item in found)
    deployment = _deployment(
        ctx, app, versions=versions_text(refs) if refs else "", depends=tuple(prior)
    )
    found.append(deployment)
    after_deployment = (*base, deployment.ref)
    if app.spec.autoscale is not None:
        found.append(_autoscaler(ctx, app, after_deployment))
    if app.spec.ports:
        service = _service(ctx, app, after_deployment)
        found.append(service)
        if app.spec.expose is not None:
            found.append(_ingress(ctx, app, (*after_deployment, service.ref)))
    return found


def render(ctx: RenderContext) -> list[DesiredResource]:
    """The namespace and every object of every app placed on Kubernetes."""
    names = ctx.apps_on(Target.KUBERNETES)
    if not names:
        return []
    namespace = render_namespace(ctx)
    found = [namespace]
    for name in names:
        found.extend(render_app(ctx, ctx.apps[name], namespace.ref))
    return found
