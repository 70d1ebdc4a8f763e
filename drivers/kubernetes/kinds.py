"""The kinds the Kubernetes driver manages, their REST paths, and our ownership markers.

Read by observing (one LIST per kind) and applying (object paths).
"""

from __future__ import annotations

from dataclasses import dataclass

FIELD_MANAGER = "rxt-deploy"
MANAGED_BY = "app.kubernetes.io/managed-by"
ENVIRONMENT_LABEL = "deploy.rxt.io/environment"
OWNER_ANNOTATION = "deploy.rxt.io/owner"

# Deleting these loses data or whole environments: a delete needs a person's approval.
GATED_KINDS = frozenset({"Namespace", "PersistentVolumeClaim"})


@dataclass(frozen=True, slots=True)
class ManagedKind:
    """One kind the driver reads and writes."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    def _base(self) -> str:
        return f"/apis/{self.api_version}" if "/" in self.api_version else "/api/v1"

    def collection(self, namespace: str) -> str:
        """The LIST path: in ``namespace`` for namespaced kinds, cluster-wide otherwise."""
        if self.namespaced:
            return f"{self._base()}/namespaces/{namespace}/{self.plural}"
        return f"{self._base()}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        """The path of one object."""
        return f"{self.collection(namespace)}/{name}"


MANAGED_KINDS: tuple[ManagedKind, ...] = (
    ManagedKind("Namespace", "v1", "namespaces", namespaced=False),
    ManagedKind("Secret", "v1", "secrets"),
    ManagedKind("ConfigMap", "v1", "configmaps"),
    ManagedKind("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
    ManagedKind("Service", "v1", "services"),
    ManagedKind("Deployment", "apps/v1", "deployments"),
    ManagedKind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    ManagedKind("Ingress", "networking.k8s.io/v1", "ingresses"),
    ManagedKind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
)

_BY_NAME = {kind.kind: kind for kind in MANAGED_KINDS}


def managed_kind(name: str) -> ManagedKind | None:
    """The managed kind called ``name`` (``Deployment``), or None when we do not manage it."""
    return _BY_NAME.get(name)


def selector(environment: str) -> str:
    """The label selector that finds what we manage in one environment."""
    return f"{MANAGED_BY}={FIELD_MANAGER},{ENVIRONMENT_LABEL}={environment}"
