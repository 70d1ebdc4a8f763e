"""A small engine loop for the cross-driver tests: a repository on disk, a plan, an apply.

Stands in for the reconciler (not built here): load, read versions, plan, apply in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import hvac

from core.resources import Change, SecretRef
from drivers.protocol import Applied, Driver, Scope
from drivers.vault import VaultSecretSource
from planner.loading import LoadedEnvironment, load_environment
from planner.plans import Plan, plan_environment
from planner.rendering import render_environment

IMAGE = (
    "registry.example.com/acme/payments@sha256:"
    "285ab173cb4768f52ce2ab37a63c6cc0f3d04963209217b9c25d313cea7c3c75"
)

ENVIRONMENT = """\
apiVersion: deploy.rxt.io/v1
kind: Environment
metadata: {{name: prod, tenant: {tenant}}}
spec:
  sites:
    kubernetes: {{site: fake, namespace: {namespace}}}
{vsphere}"""

VSPHERE_SITE = """\
    vsphere:
      site: vcsim
      datacenter: DC0
      cluster: DC0_C0
      folder: {folder}
      network: VM Network
      template: ubuntu-2404-docker
"""

APP = """\
apiVersion: deploy.rxt.io/v1
kind: Application
metadata: {{name: {name}}}
spec:
  image: {image}
  replicas: {replicas}
  resources: {{cpu: "1", memory: 1Gi}}
  placement: {{target: {target}}}
  env:
    LOG_LEVEL: info
{env}
"""


def secret_env(refs: dict[str, SecretRef]) -> str:
    """``env`` lines of a deploy.yaml: each variable filled from a secret reference."""
    lines = [
        f"    {name}: {{secretRef: {{path: {ref.path}, key: {ref.key}}}}}"
        for name, ref in sorted(refs.items())
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Repo:
    """One tenant's repository with a Kubernetes environment ``prod``."""

    root: Path
    tenant: str
    vm_folder: str = ""  # set: apps are placed on VMs in this vSphere folder

    @property
    def namespace(self) -> str:
        return f"{self.tenant}-prod"

    @property
    def scope(self) -> Scope:
        if self.vm_folder:
            site = {"datacenter": "DC0", "cluster": "DC0_C0", "folder": self.vm_folder}
            return Scope(self.tenant, "prod", site)
        return Scope(self.tenant, "prod", {"namespace": self.namespace})

    def write(self, apps: dict[str, dict[str, SecretRef]]) -> None:
        env_dir = self.root / "environments" / "prod"
        env_dir.mkdir(parents=True, exist_ok=True)
        vsphere = VSPHERE_SITE.format(folder=self.vm_folder) if self.vm_folder else ""
        text = ENVIRONMENT.format(tenant=self.tenant, namespace=self.namespace, vsphere=vsphere)
        (env_dir / "environment.yaml").write_text(text)
        target, replicas = ("vm", 1) if self.vm_folder else ("kubernetes", 2)
        for name, refs in apps.items():
            app_dir = env_dir / "apps" / name
            app_dir.mkdir(parents=True, exist_ok=True)
            body = APP.format(
                name=name, image=IMAGE, env=secret_env(refs), target=target, replicas=replicas
            )
            (app_dir / "deploy.yaml").write_text(body)

    def load(self) -> LoadedEnvironment:
        return load_environment(self.root / "environments" / "prod", repo_root=self.root)


def write_secret(admin: hvac.Client, tenant: str, path: str, **data: str) -> int:
    """The tenant writing a secret version under the default layout; returns its version."""
    answer = admin.secrets.kv.v2.create_or_update_secret(
        path=f"tenants/{tenant}/{path}", secret=data, mount_point="secret"
    )
    return int(answer["data"]["version"])


def plan(repo: Repo, *, driver: Driver, source: VaultSecretSource) -> Plan:
    """What ``rxt plan`` does: observe, read versions (metadata only), plan."""
    view = repo.load()
    refs = {ref for item in render_environment(view) for ref in item.secrets}
    versions = source.versions(refs, tenant=repo.tenant)
    observed = driver.observe(repo.scope)
    return plan_environment(view, observed, secret_versions=versions)


def apply(changes: tuple[Change, ...], *, driver: Driver) -> list[Applied]:
    """Apply a plan's changes in order, as the reconciler would."""
    return [driver.apply(change) for change in changes]


def unwrap_as_a_vm(url: str, token: str) -> httpx.Response:
    """What a VM's cloud-init sends at boot: the wrapping token and nothing else."""
    return httpx.post(f"{url}/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": token}, timeout=10)
