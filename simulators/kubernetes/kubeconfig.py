"""Writes a kubeconfig that points the official client (and kubectl) at a fake API server."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_kubeconfig(path: Path, *, server: str, namespace: str = "default") -> Path:
    """Write a one-context kubeconfig for ``server`` (plain HTTP, a dummy bearer token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
