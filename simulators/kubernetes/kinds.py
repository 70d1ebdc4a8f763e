"""The kinds the fake API server serves, and the discovery documents built from them.

Read by the request router (to map URLs to kinds) and by the discovery handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    """One served resource type."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_spec: bool = True
    delete_returns_object: bool = False  # as the real storage of Services and claims does

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``, the name the real server uses in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_group(self) -> str:
        """``Deployment.apps``, as the real server names a kind in validation messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


KINDS: tuple[Kind, ...] = (
    Kind("", "v1", "namespaces", "Namespace", namespaced=False),
    Kind("", "v1", "services", "Service", delete_returns_object=True),
    Kind("", "v1", "secrets", "Secret", has_spec=False),
    Kind("", "v1", "configmaps", "ConfigMap", has_spec=False),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", delete_returns_object=True),
    Kind("apps", "v1", "deployments", "Deployment"),
    Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress"),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
)

_BY_PATH = {(k.group, k.version, k.plural): k for k in KINDS}


def by_path(group: str, version: str, plural: str) -> Kind | None:
    """The kind served at ``/apis/{group}/{version}/{plural}`` (group empty for ``/api/v1``)."""
    return _BY_PATH.get((group, version, plural))


def served(name: str) -> Kind:
    """The served kind called ``name`` (``Deployment``); raises ``StopIteration`` if none."""
    return next(kind for kind in KINDS if kind.kind == name)


VERBS = ["create", "delete", "get", "list", "patch", "update"]


def _resource_entry(kind: Kind) -> dict[str, Any]:
    return {
        "name": kind.plural,
        "singularName": kind.kind.lower(),
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": VERBS,
    }


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The ``APIResourceList`` of one group version, or None when it is not served."""
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": kinds[0].api_version,
        "resources": [_resource_entry(k) for k in kinds],
    }


def core_versions() -> dict[str, Any]:
    """The answer to ``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def group_list() -> dict[str, Any]:
    """The answer to ``GET /apis``."""
    groups: dict[str, list[str]] = {}
    for kind in KINDS:
        if kind.group:
            groups.setdefault(kind.group, [])
            if kind.version not in groups[kind.group]:
                groups[kind.group].append(kind.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in groups.items()],
    }


def group(name: str) -> dict[str, Any] | None:
    """The answer to ``GET /apis/{group}``."""
    versions = sorted({k.version for k in KINDS if k.group == name})
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions else None


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def version_info(minor: str) -> dict[str, Any]:
    """The answer to ``GET /version`` for the configured Kubernetes minor version."""
    return {
        "major": "1",
        "minor": minor,
        "gitVersion": f"v1.{minor}.0-rxt-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
