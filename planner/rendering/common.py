"""What every platform renderer shares: the render context, owner keys, names and secret refs.

Used by the Kubernetes, VM and NSX renderers of this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from core.hashing import digest
from core.resources import OwnerKey, SecretRef
from planner.manifests import Application, Environment, SecretValue
from planner.placement import Placement, Target

MANAGER = "rxt-deploy"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_TENANT = "deploy.rxt.io/tenant"
LABEL_ENVIRONMENT = "deploy.rxt.io/environment"
LABEL_APP = "deploy.rxt.io/app"
ANNOTATION_OWNER = "deploy.rxt.io/owner"
ANNOTATION_SECRET_REFS = "deploy.rxt.io/secret-refs"  # noqa: S105 - an annotation name, not a secret
ANNOTATION_SECRET_VERSIONS = "deploy.rxt.io/secret-versions"  # noqa: S105 - an annotation name, not a secret
ANNOTATION_SECRET_ENV = "deploy.rxt.io/secret-env"  # noqa: S105 - an annotation name, not a secret
UNKNOWN_VERSIONS = "unknown"

ENVIRONMENT_APP = "_environment"
"""The app part of owner keys for objects the whole environment shares (its namespace).

App names are DNS labels, so a leading underscore can never collide with one.
"""


@dataclass(frozen=True, slots=True)
class SecretEnv:
    """One environment variable whose value comes from Vault."""

    name: str
    ref: SecretRef


@dataclass(frozen=True)
class RenderContext:
    """Everything a renderer reads about one environment; built once per render."""

    tenant: str
    environment: str
    settings: Environment
    apps: Mapping[str, Application]
    placements: Mapping[str, Placement]
    secret_versions: Mapping[SecretRef, int] | None = None

    def owner(self, app: str, component: str) -> OwnerKey:
        """The owner key of one component of one app."""
        return OwnerKey(self.tenant, self.environment, app, component)

    def prefix(self, app: str) -> str:
        """The platform-wide name stem of an app: ``<tenant>-<env>-<app>``."""
        return f"{self.tenant}-{self.environment}-{app}"

    @cached_property
    def _on(self) -> dict[Target, tuple[str, ...]]:
        return {
            target: tuple(sorted(n for n, p in self.placements.items() if p.target is target))
            for target in Target
        }

    @cached_property
    def _admitting(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for name in sorted(self.apps):
            for peer in self.apps[name].spec.network.allow_from:
                found.setdefault(peer, []).append(name)
        return {peer: tuple(names) for peer, names in found.items()}

    def apps_on(self, target: Target) -> tuple[str, ...]:
        """The names of the apps placed on ``target``, sorted (computed once per render)."""
        return self._on[target]

    def is_on(self, app: str, target: Target) -> bool:
        """True when ``app`` is placed on ``target``."""
        placed = self.placements.get(app)
        return placed is not None and placed.target is target

    def admitting(self, app: str, target: Target) -> list[str]:
        """The apps on ``target`` whose ``allowFrom`` names ``app``: where it may connect to."""
        return [peer for peer in self._admitting.get(app, ()) if self.is_on(peer, target)]

    def secret_envs(self, app: Application) -> list[SecretEnv]:
        """The app's secret-valued environment variables, by name, with known versions."""
        found = []
        for name, value in sorted(app.spec.env.items()):
            if isinstance(value, SecretValue):
                ref = SecretRef(value.secret_ref.path, value.secret_ref.key)
                version = None if self.secret_versions is None else self.secret_versions.get(ref)
                found.append(SecretEnv(name, SecretRef(ref.path, ref.key, version)))
        return found

    def secret_refs(self, app: Application) -> tuple[SecretRef, ...]:
        """The distinct secret references of an app, sorted by ``path#key``."""
        unique = {str(item.ref): item.ref for item in self.secret_envs(app)}
        return tuple(unique[key] for key in sorted(unique))


def plain_env(app: Application) -> dict[str, str]:
    """The app's literal environment variables; secret references are left out."""
    return {name: value for name, value in sorted(app.spec.env.items()) if isinstance(value, str)}


def refs_text(refs: tuple[SecretRef, ...]) -> str:
    """The sorted ``path#key`` list, comma-separated, as the secret-refs annotation holds it."""
    return ",".join(sorted({str(ref) for ref in refs}))


def secret_env_text(envs: list[SecretEnv]) -> str:
    """``NAME=path#key`` pairs, comma-separated, sorted by name: which key fills which variable."""
    return ",".join(f"{item.name}={item.ref}" for item in sorted(envs, key=lambda e: e.name))


def versions_text(refs: tuple[SecretRef, ...]) -> str:
    """A digest of the refs and their Vault versions, or ``unknown`` when a version is unread.

    A rotation changes the digest, which rolls the pods or re-runs a VM's cloud-init.
    """
    if not refs or any(ref.version is None for ref in refs):
        return UNKNOWN_VERSIONS
    return digest([[str(ref), ref.version] for ref in refs])
