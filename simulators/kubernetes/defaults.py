"""The defaults the real API server fills in, so a client's normalisation meets real noise.

Applied to every object after a write is merged and before it is stored. Fields a client set
are never changed; only missing ones are filled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from simulators.kubernetes.quantities import canonicalise

_cluster_ips = itertools.count(10)


def _fill(target: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        target.setdefault(key, value)


def _pod_spec(spec: dict[str, Any]) -> None:
    _fill(
        spec,
        {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    )
    for container in spec.get("containers") or []:
        canonicalise(container.get("resources"))
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        _fill(
            container,
            {
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "Always" if latest else "IfNotPresent",
            },
        )
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _fill(
        spec,
        {
            "replicas": 1,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        },
    )
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    _pod_spec(template.setdefault("spec", {}))


def _service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    _fill(spec, {"type": "ClusterIP", "sessionAffinity": "None"})
    if "clusterIP" not in spec:
        number = next(_cluster_ips)
        spec["clusterIP"] = f"10.96.{number // 250}.{number % 250 + 1}"
    _fill(
        spec,
        {
            "clusterIPs": [spec["clusterIP"]],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
    )
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _pvc(obj: dict[str, Any]) -> None:
    canonicalise((obj.get("spec") or {}).get("resources"))
    _fill(obj.setdefault("spec", {}), {"volumeMode": "Filesystem", "storageClassName": "standard"})
    obj.setdefault("metadata", {}).setdefault("finalizers", ["kubernetes.io/pvc-protection"])


def _hpa(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}
    spec.setdefault("metrics", [{"type": "Resource", "resource": cpu}])


def _network_policy(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    types = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    spec.setdefault("policyTypes", types)


def _namespace(obj: dict[str, Any]) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _secret(obj: dict[str, Any]) -> None:
    obj.setdefault("type", "Opaque")


_BY_KIND: dict[str, Callable[[dict[str, Any]], None]] = {
    "Deployment": _deployment,
    "Service": _service,
    "PersistentVolumeClaim": _pvc,
    "HorizontalPodAutoscaler": _hpa,
    "NetworkPolicy": _network_policy,
    "Namespace": _namespace,
    "Secret": _secret,
}


def apply_defaults(obj: dict[str, Any]) -> None:
    """Fill the missing fields the real server defaults for ``obj``'s kind, in place."""
    fill = _BY_KIND.get(str(obj.get("kind")))
    if fill is not None:
        fill(obj)
