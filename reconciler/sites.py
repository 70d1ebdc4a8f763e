"""Which driver serves which site, the scope each driver observes, and the bulk observation.

The reconcile loop and the drift check call ``Sites.observe``: one bulk read per driver an
environment uses, through the ``drivers.protocol.Driver`` protocol only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.resources import ObservedResource, Platform, SecretRef
from core.secrets import SecretSource
from drivers.protocol import Driver, Scope
from planner.loading import LoadedEnvironment, load_environment
from planner.rendering import render_environment
from reconciler.planning import on_planning_thread
from reconciler.trees import RepoTree, materialise_environment

ANY_SITE = "*"


@dataclass
class Sites:
    """The drivers of the engine, keyed by platform and the site name of ``environment.yaml``.

    A driver registered under site ``*`` serves every site of its platform that has no driver
    of its own (the tests and the demo run one simulator per platform).
    """

    drivers: dict[tuple[Platform, str], Driver] = field(default_factory=dict)
    secrets: SecretSource | None = None

    def add(self, platform: Platform, driver: Driver, *, site: str = ANY_SITE) -> None:
        self.drivers[platform, site] = driver

    def driver(self, platform: Platform, site: str) -> Driver:
        """The driver of ``site`` on ``platform``.

        Raises:
            ConfigError: no driver is configured for it.
        """
        found = self.drivers.get((platform, site)) or self.drivers.get((platform, ANY_SITE))
        if found is None:
            raise ConfigError(
                f"no {platform.value} connection named {site!r} is configured",
                hint=f"configure a {platform.value} site {site!r} in the engine's configuration",
            )
        return found

    def used_by(self, view: LoadedEnvironment) -> dict[Platform, tuple[Driver, Scope]]:
        """Each platform the environment names a site for, with its driver and scope."""
        env = view.environment
        found: dict[Platform, tuple[Driver, Scope]] = {}
        for platform in (Platform.VSPHERE, Platform.NSX, Platform.KUBERNETES):
            site = getattr(env.spec.sites, platform.value)
            if site is None:
                continue
            settings: dict[str, Any] = site.model_dump(mode="json", by_alias=True)
            scope = Scope(env.metadata.tenant, env.metadata.name, settings)
            found[platform] = (self.driver(platform, str(settings["site"])), scope)
        return found

    def observe(self, view: LoadedEnvironment) -> list[ObservedResource]:
        """Everything the environment's drivers report: one bulk read per driver."""
        observed: list[ObservedResource] = []
        for driver, scope in self.used_by(view).values():
            observed.extend(driver.observe(scope))
        return observed

    def secret_versions(self, view: LoadedEnvironment) -> dict[SecretRef, int]:
        """The current version of every secret the environment references (metadata only)."""
        rendered = on_planning_thread(render_environment, view)
        refs = {ref for item in rendered for ref in item.secrets}
        if not refs:
            return {}
        if self.secrets is None:
            raise ConfigError(
                f"environment {view.name!r} references secrets but no secret source is set",
                hint="configure Vault (address and token) for the engine",
            )
        tenant = view.environment.metadata.tenant
        return {
            SecretRef(ref.path, ref.key): self.secrets.version(ref, tenant=tenant)
            for ref in sorted(refs, key=str)
        }


def load_at(tree: RepoTree, environment: str) -> LoadedEnvironment:
    """One environment's manifests at a commit, read from the Git tree without a checkout.

    Raises:
        ManifestError: a file is invalid or a path leaves the repository.
    """
    with tempfile.TemporaryDirectory(prefix="rxt-tree-") as scratch:
        root = Path(scratch)
        folder = materialise_environment(tree, environment, root)
        return load_environment(folder, repo_root=root)
