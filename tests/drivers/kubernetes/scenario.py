"""Desired Kubernetes objects shaped as docs/resource-specs.md says the planner renders them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.resources import DesiredResource, OwnerKey, Platform, ResourceRef, SecretRef


def markers(owner: OwnerKey) -> tuple[dict[str, str], dict[str, str]]:
    labels = {
        "app.kubernetes.io/managed-by": "rxt-deploy",
        "deploy.rxt.io/tenant": owner.tenant,
        "deploy.rxt.io/environment": owner.environment,
        "deploy.rxt.io/app": owner.app,
    }
    return labels, {"deploy.rxt.io/owner": str(owner)}


def resource(
    owner: OwnerKey,
    kind: str,
    name: str,
    namespace: str,
    body: Mapping[str, Any],
    *,
    api_version: str,
    secrets: Sequence[SecretRef] = (),
    annotations: Mapping[str, str] | None = None,
) -> DesiredResource:
    labels, owned = markers(owner)
    meta: dict[str, Any] = {
        "name": name,
        "labels": labels,
        "annotations": {**owned, **(annotations or {})},
    }
    if kind != "Namespace":
        meta["namespace"] = namespace
    spec = {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}
    scope = "" if kind == "Namespace" else namespace
    ref = ResourceRef(Platform.KUBERNETES, kind, name, scope)
    return DesiredResource(ref=ref, owner=owner, spec=spec, secrets=tuple(secrets))


def deployment(
    owner: OwnerKey,
    namespace: str,
    name: str,
    *,
    image: str = "nginx:1.27",
    replicas: int | None = 2,
) -> DesiredResource:
    selector = {"app.kubernetes.io/name": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": selector,
                "annotations": {"deploy.rxt.io/secret-versions": "unknown"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": "MODE", "value": "production"}],
                    }
                ]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return resource(owner, "Deployment", name, namespace, {"spec": spec}, api_version="apps/v1")


def service(owner: OwnerKey, namespace: str, name: str, *, port: int = 80) -> DesiredResource:
    spec = {
        "selector": {"app.kubernetes.io/name": name},
        "ports": [{"name": "http", "port": port, "targetPort": 8080}],
    }
    return resource(owner, "Service", name, namespace, {"spec": spec}, api_version="v1")


def ingress(owner: OwnerKey, namespace: str, name: str, *, host: str) -> DesiredResource:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    spec = {
        "ingressClassName": "nginx",
        "rules": [{"host": host, "http": {"paths": [path]}}],
        "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
    }
    return resource(
        owner, "Ingress", name, namespace, {"spec": spec}, api_version="networking.k8s.io/v1"
    )


def hpa(
    owner: OwnerKey, namespace: str, name: str, *, low: int = 3, high: int = 6
) -> DesiredResource:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": low,
        "maxReplicas": high,
    }
    return resource(
        owner,
        "HorizontalPodAutoscaler",
        name,
        namespace,
        {"spec": spec},
        api_version="autoscaling/v2",
    )


def network_policy(owner: OwnerKey, namespace: str, name: str) -> DesiredResource:
    spec = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                        }
                    }
                ]
            }
        ],
    }
    return resource(
        owner, "NetworkPolicy", name, namespace, {"spec": spec}, api_version="networking.k8s.io/v1"
    )


def secret(
    owner: OwnerKey, namespace: str, name: str, refs: Sequence[SecretRef]
) -> DesiredResource:
    listed = ",".join(sorted(str(ref) for ref in refs))
    annotations = {"deploy.rxt.io/secret-refs": listed, "deploy.rxt.io/secret-versions": "unknown"}
    return resource(
        owner,
        "Secret",
        name,
        namespace,
        {"type": "Opaque"},
        api_version="v1",
        secrets=refs,
        annotations=annotations,
    )


def pvc(owner: OwnerKey, namespace: str, name: str, *, size: str = "1Gi") -> DesiredResource:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    return resource(
        owner, "PersistentVolumeClaim", name, namespace, {"spec": spec}, api_version="v1"
    )


def app(
    owner: OwnerKey, namespace: str, *, image: str = "nginx:1.27", port: int = 80
) -> list[DesiredResource]:
    """One web app as the planner renders it, without the approval-gated kinds."""
    name = owner.app
    refs = [SecretRef(f"tenants/{owner.tenant}/{owner.environment}/{name}", "db-password")]
    return [
        secret(owner, namespace, f"{name}-secrets", refs),
        deployment(owner, namespace, name, image=image),
        service(owner, namespace, name, port=port),
        ingress(owner, namespace, name, host=f"{name}.example.test"),
        network_policy(owner, namespace, name),
    ]
