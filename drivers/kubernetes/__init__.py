"""The Kubernetes driver: server-side apply through the official client, behind the protocol."""

from drivers.kubernetes.driver import KubernetesDriver

__all__ = ["KubernetesDriver"]
