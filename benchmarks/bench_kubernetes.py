"""Kubernetes bars on the fake API server: P4 (API calls per observed object) and R2 (apply,
observe, plan: the second plan is empty), with the planner's own rendering of generated apps.

Run with ``python -m benchmarks kubernetes``; the fake server runs in this process.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from benchmarks.harness import Row, stopwatch
from core.resources import Change, DesiredResource, Platform, SecretRef
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.protocol import Scope
from planner.diffing import diff
from planner.manifests import Application, Environment, Sync
from planner.rendering import render_environment
from simulators.kubernetes import FakeApiServer

TENANT, ENVIRONMENT = "bench", "prod"
P4_APPS = 125  # four objects each, and the namespace: 501 observed objects
R2_APPS = 12
R2_ROUNDS = 8
SYNC = Sync.model_validate({"prune": True})


@dataclass(frozen=True)
class View:
    """One generated environment, in the shape the planner's renderer reads."""

    environment: Environment
    apps: Mapping[str, Application]
    policy_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.environment.metadata.name


class Secrets:
    """Every secret reads as the same throwaway value; the bench measures calls, not Vault."""

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        return 1

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        return "bench-value"

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        raise NotImplementedError("the Kubernetes driver never wraps")


def run() -> list[Row]:
    with FakeApiServer(tick=3600.0) as server:
        configuration = k8s.Configuration()
        configuration.host = server.url
        configuration.retries = retry_policy()
        with k8s.ApiClient(configuration) as api:
            return [_calls_per_observed_object(server, api), _idempotency(api)]


def _environment(namespace: str) -> Environment:
    site = {"site": "spot", "namespace": namespace}
    return Environment.model_validate(
        {
            "apiVersion": "deploy.rxt.io/v1",
            "kind": "Environment",
            "metadata": {"name": ENVIRONMENT, "tenant": TENANT},
            "spec": {"sites": {"kubernetes": site}, "sync": {"prune": True}},
        }
    )


def _app(name: str, rng: random.Random, *, rich: bool) -> Application:
    spec: dict[str, Any] = {
        "image": f"registry.example.com/{TENANT}/{name}:1.{rng.randint(0, 9)}.0",
        "replicas": rng.randint(1, 4),
        "resources": {
            "cpu": rng.choice(["250m", "500m", "1"]),
            "memory": rng.choice(["256Mi", "1Gi"]),
        },
        "ports": [{"name": "http", "port": rng.choice([8080, 9000])}],
        "env": {
            "MODE": rng.choice(["a", "b"]),
            "DB_PASSWORD": {"secretRef": {"path": f"{name}/db", "key": "password"}},
        },
        "expose": {"host": f"{name}.example.com", "port": "http", "tls": rng.random() < 0.5},
        "network": {"allowFrom": []},
        "placement": {"target": "kubernetes"},
    }
    if rich and rng.random() < 0.5:
        spec["autoscale"] = {"min": 2, "max": rng.randint(3, 6)}
    if rich and rng.random() < 0.3:
        spec["volumes"] = [
            {"name": "data", "size": rng.choice(["1Gi", "2Gi"]), "mountPath": "/data"}
        ]
    body = {
        "apiVersion": "deploy.rxt.io/v1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": spec,
    }
    return Application.model_validate(body)


def _render(namespace: str, apps: Mapping[str, Application]) -> list[DesiredResource]:
    everything = render_environment(View(_environment(namespace), apps))
    return [item for item in everything if item.ref.platform is Platform.KUBERNETES]


def _plan(
    driver: KubernetesDriver, namespace: str, desired: Sequence[DesiredResource]
) -> list[Change]:
    observed = driver.observe(Scope(TENANT, ENVIRONMENT, {"namespace": namespace}))
    return list(diff(desired, observed, tenant=TENANT, environment=ENVIRONMENT, sync=SYNC).changes)


def _apply(driver: KubernetesDriver, changes: Sequence[Change]) -> int:
    # The planner marks claim deletes for approval; the bench approves them as a person would.
    return sum(driver.apply(change, approved=change.needs_approval).wrote for change in changes)


def _calls_per_observed_object(server: FakeApiServer, api: k8s.ApiClient) -> Row:
    rng, namespace = random.Random(4), "bench-p4"
    apps = {f"app-{n}": _app(f"app-{n}", rng, rich=False) for n in range(P4_APPS)}
    desired = _render(namespace, apps)
    driver = KubernetesDriver(api, secrets=Secrets())
    _apply(driver, _plan(driver, namespace, desired))
    server.reset_counts()
    with stopwatch() as took:
        observed = KubernetesDriver(api).observe(
            Scope(TENANT, ENVIRONMENT, {"namespace": namespace})
        )
    calls = server.calls()
    ratio = calls / len(observed)
    return Row(
        "P4",
        f"Kubernetes observe of {len(observed)} objects (fake API server)",
        f"{calls} API calls for {len(observed)} objects = {ratio:.3f} per object; {took[0]:.2f} s",
        "<= 0.1",
        passed=len(observed) == len(desired) and ratio <= 0.1,
    )


def _mutate(apps: dict[str, Application], rng: random.Random, serial: list[int]) -> None:
    """Change some apps, drop one, add one: what a week of commits does."""
    for name in rng.sample(sorted(apps), k=min(3, len(apps))):
        apps[name] = _app(name, rng, rich=True)
    if len(apps) > 2:
        del apps[rng.choice(sorted(apps))]
    serial[0] += 1
    apps[f"new-{serial[0]}"] = _app(f"new-{serial[0]}", rng, rich=True)


def _idempotency(api: k8s.ApiClient) -> Row:
    rng, namespace, serial = random.Random(2), "bench-r2", [0]
    apps = {f"app-{n}": _app(f"app-{n}", rng, rich=True) for n in range(R2_APPS)}
    first_sizes, empty, writes = [], 0, 0
    with stopwatch() as took:
        for round_number in range(R2_ROUNDS):
            if round_number:
                _mutate(apps, rng, serial)
            desired = _render(namespace, apps)
            changes = _plan(KubernetesDriver(api, secrets=Secrets()), namespace, desired)
            writes += _apply(KubernetesDriver(api, secrets=Secrets()), changes)
            # A new driver: what an engine restart sees.
            empty += _plan(KubernetesDriver(api), namespace, desired) == []
            first_sizes.append(len(changes))
    return Row(
        "R2",
        f"Kubernetes apply, observe, plan x{R2_ROUNDS} (generated apps, planner, fake server)",
        f"changes per round {first_sizes}, {writes} writes; second plan empty {empty}/{R2_ROUNDS}; "
        f"{took[0]:.1f} s",
        "every second plan empty",
        passed=empty == R2_ROUNDS,
    )
