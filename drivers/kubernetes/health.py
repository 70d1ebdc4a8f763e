"""Readiness of applied objects: kubectl's rollout rules for Deployments, load balancer status
for Ingresses, existence for the rest. The driver's ``health`` calls ``judge``.
"""

from __future__ import annotations

from typing import Any

from drivers.protocol import Health

DEFAULT_PROGRESS_DEADLINE = 600.0  # seconds; the API server's default


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return {}


def deployment(obj: dict[str, Any], *, elapsed: float | None) -> Health:
    """kubectl's ``rollout status`` verdict, failing after ``progressDeadlineSeconds``.

    ``elapsed`` is how long ago this driver applied the object (None when unknown); it bounds
    the wait even when the cluster never reports ``ProgressDeadlineExceeded``.
    """
    name = obj["metadata"]["name"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return _pending(obj, elapsed, "waiting for the deployment spec update to be observed")
    if _condition(status, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return Health(
            ready=False, failed=True, message=f'deployment "{name}" exceeded its progress deadline'
        )
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < wanted:
        return _pending(obj, elapsed, f"{updated} out of {wanted} new replicas have been updated")
    if total > updated:
        return _pending(obj, elapsed, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return _pending(obj, elapsed, f"{available} of {updated} updated replicas are available")
    return Health(ready=True, message=f'deployment "{name}" successfully rolled out')


def _pending(obj: dict[str, Any], elapsed: float | None, why: str) -> Health:
    spec = obj.get("spec") or {}
    deadline = float(spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE))
    name = obj["metadata"]["name"]
    if elapsed is not None and elapsed > deadline:
        message = f'deployment "{name}" did not roll out within {deadline:g} s: {why}'
        return Health(ready=False, failed=True, message=message)
    return Health(ready=False, message=f'waiting for deployment "{name}" rollout: {why}')


def ingress(obj: dict[str, Any]) -> Health:
    """Ready once the ingress controller published an address."""
    balancer = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if balancer:
        return Health(ready=True, message="load balancer address published")
    return Health(ready=False, message="waiting for the ingress controller to publish an address")


def judge(obj: dict[str, Any], *, elapsed: float | None) -> Health:
    """The health of any managed object."""
    kind = obj.get("kind")
    if kind == "Deployment":
        return deployment(obj, elapsed=elapsed)
    if kind == "Ingress":
        return ingress(obj)
    return Health(ready=True, message="exists")
