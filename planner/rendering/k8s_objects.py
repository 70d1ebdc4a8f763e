"""The skeleton every Kubernetes object shares: markers, namespace, selector and quantities.

Used by ``kubernetes`` (workloads) and ``k8s_network`` (NetworkPolicy) of this package.
"""

from __future__ import annotations

from typing import Any

from core.resources import DesiredResource, JsonObject, OwnerKey, Platform, ResourceRef
from planner.quantities import parse_bytes, parse_cpu_millicores
from planner.rendering.common import (
    ANNOTATION_OWNER,
    LABEL_APP,
    LABEL_ENVIRONMENT,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_TENANT,
    MANAGER,
    RenderContext,
)

_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL = (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


def cpu_text(text: str) -> str:
    """A CPU quantity the way the API server prints it back (``"0.5"`` becomes ``"500m"``)."""
    millicores = parse_cpu_millicores(text)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def bytes_text(text: str) -> str:
    """A memory or storage quantity in the largest suffix that divides it exactly."""
    value = parse_bytes(text)
    for suffix, size in (*_BINARY, *_DECIMAL):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def k8s_object(
    ctx: RenderContext, *, kind: str, api: str, name: str, owner: OwnerKey, app: str | None
) -> JsonObject:
    """The object's apiVersion, kind and metadata with the ownership markers."""
    labels = {
        LABEL_MANAGED_BY: MANAGER,
        LABEL_TENANT: ctx.tenant,
        LABEL_ENVIRONMENT: ctx.environment,
    }
    if app is not None:
        labels[LABEL_APP] = app
    metadata: JsonObject = {"name": name}
    if kind != "Namespace":
        metadata["namespace"] = namespace_of(ctx)
    metadata["labels"] = labels
    metadata["annotations"] = {ANNOTATION_OWNER: str(owner)}
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def namespace_of(ctx: RenderContext) -> str:
    """The environment's namespace; the renderer runs only when the site is configured."""
    site = ctx.settings.spec.sites.kubernetes
    if site is None:
        raise AssertionError("placement checks that a Kubernetes site exists")  # pragma: no cover
    return site.namespace


def wrap(ctx: RenderContext, body: JsonObject, owner: OwnerKey, **extra: Any) -> DesiredResource:
    """The desired resource of a rendered object."""
    scope = "" if body["kind"] == "Namespace" else namespace_of(ctx)
    ref = ResourceRef(Platform.KUBERNETES, body["kind"], body["metadata"]["name"], scope)
    return DesiredResource(ref=ref, owner=owner, spec=body, **extra)


def selector(app: str) -> dict[str, str]:
    """The pod labels a Deployment selects and a Service or policy matches."""
    return {LABEL_NAME: app, LABEL_APP: app}
