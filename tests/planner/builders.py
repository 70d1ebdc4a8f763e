"""Small environments for the planner's tests, built from dictionaries like the YAML users write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.loading import LoadedEnvironment, load_environment
from planner.manifests import Application, Environment

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-repo"

SITES: dict[str, Any] = {
    "vsphere": {
        "site": "sddc",
        "datacenter": "DC0",
        "cluster": "C0",
        "folder": "acme-prod",
        "network": "VM Network",
        "template": "ubuntu",
    },
    "nsx": {"site": "nsx", "tier1": "acme-t1"},
    "kubernetes": {"site": "spot", "namespace": "acme-prod"},
}


@dataclass(frozen=True)
class View:
    """An ``EnvironmentView`` built in memory."""

    environment: Environment
    apps: Mapping[str, Application]
    policy_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.environment.metadata.name


def environment(**spec: Any) -> Environment:
    """An environment.yaml for tenant acme, environment prod; ``spec`` overrides the defaults."""
    body: dict[str, Any] = {
        "sites": SITES,
        "sync": {"prune": True},
        "policy": {"packs": ["baseline"]},
    }
    body.update(spec)
    return Environment.model_validate(
        {
            "apiVersion": "deploy.rxt.io/v1",
            "kind": "Environment",
            "metadata": {"name": "prod", "tenant": "acme"},
            "spec": body,
        }
    )


def app(name: str, **spec: Any) -> Application:
    """A deploy.yaml that passes the baseline pack unless ``spec`` says otherwise."""
    body: dict[str, Any] = {
        "image": f"registry.example.com/acme/{name}:1.0.0",
        "replicas": 2,
        "resources": {"cpu": "500m", "memory": "512Mi"},
        "ports": [{"name": "http", "port": 8080}],
        "health": {"path": "/healthz", "port": "http"},
    }
    body.update(spec)
    return Application.model_validate(
        {
            "apiVersion": "deploy.rxt.io/v1",
            "kind": "Application",
            "metadata": {"name": name, "labels": {"team": "shop"}},
            "spec": body,
        }
    )


def view(
    *apps: Application, env: Environment | None = None, policies: Mapping[str, str] | None = None
) -> View:
    """A view of ``apps`` in ``env`` (the default environment when omitted)."""
    return View(
        environment=env or environment(),
        apps={item.metadata.name: item for item in apps},
        policy_files=dict(policies or {}),
    )


def example(name: str) -> LoadedEnvironment:
    """One environment of the example repository."""
    return load_environment(EXAMPLE / "environments" / name, repo_root=EXAMPLE)
