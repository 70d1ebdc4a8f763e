"""Environment repositories for the reconcile tests: manifests written as commits of a real,
bare Git repository, and a mirror of it as the engine reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from reconciler.mirrors import RepositoryMirror
from reconciler.reconciling import Target
from tests.reconciler.gitrepos import commit, make_remote, nest

WEB = "apps/web/deploy.yaml"
DB = "apps/db/deploy.yaml"
DIGEST = "sha256:d8725a375cc61a22b17ace49052f3686bfd98eb27bd40cfb7e1cdcd6b7f1092c"


def environment_yaml(
    tenant: str,
    name: str,
    *,
    namespace: str,
    folder: str,
    vm: bool = True,
    mode: str = "report",
    interval: str = "10m",
    packs: str = "[baseline]",
    confirm: str = "[vm, volume]",
) -> str:
    vsphere = (
        f"    vsphere: {{site: sddc, datacenter: DC0, cluster: DC0_C0, folder: {folder}, "
        "network: VM Network, template: ubuntu-2404-docker}\n"
        "    nsx: {site: nsx, tier1: acme-t1}\n"
        if vm
        else ""
    )
    return (
        "apiVersion: deploy.rxt.io/v1\nkind: Environment\n"
        f"metadata: {{name: {name}, tenant: {tenant}}}\n"
        "spec:\n  sites:\n"
        f"    kubernetes: {{site: spot, namespace: {namespace}}}\n{vsphere}"
        f"  sync: {{auto: true, prune: true, confirmPrune: {confirm}}}\n"
        f"  drift: {{interval: '{interval}', mode: {mode}}}\n"
        f"  policy: {{packs: {packs}}}\n"
    )


def web_yaml(*, replicas: int = 2, log_level: str = "info", depends: str = "") -> str:
    return (
        "apiVersion: deploy.rxt.io/v1\nkind: Application\n"
        "metadata: {name: web}\n"
        "spec:\n"
        f"  image: registry.example.com/acme/web@{DIGEST}\n"
        f"  replicas: {replicas}\n"
        "  resources: {cpu: 250m, memory: 256Mi}\n"
        "  ports: [{name: http, port: 8080}]\n"
        f"  env: {{LOG_LEVEL: {log_level}}}\n"
        "  placement: {target: kubernetes}\n"
        f"{depends}"
    )


def db_yaml(*, cpu: int = 2, memory: int = 2048) -> str:
    return (
        "apiVersion: deploy.rxt.io/v1\nkind: Application\n"
        "metadata: {name: db}\n"
        "spec:\n"
        f"  image: docker.io/library/postgres@{DIGEST}\n"
        "  resources: {cpu: '2', memory: 2Gi}\n"
        "  ports: [{name: postgres, port: 5432}]\n"
        "  placement: {target: vm, stateful: true}\n"
        f"  vm: {{cpu: {cpu}, memoryMiB: {memory}, diskGiB: 20}}\n"
    )


@dataclass
class EnvRepo:
    """A bare remote with one environment, and the engine's mirror of it."""

    remote_dir: Path
    cache_dir: Path
    tenant: str = "acme"
    name: str = "prod"
    namespace: str = "acme-prod"
    folder: str = "acme-prod"
    vm: bool = True
    files: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.remote: pygit2.Repository = make_remote(self.remote_dir)
        self.mirror = RepositoryMirror(f"file://{self.remote_dir}", cache_dir=self.cache_dir)

    @property
    def base(self) -> str:
        return f"environments/{self.name}"

    def push(
        self, changes: Mapping[str, str | None], *, root: Mapping[str, str] | None = None
    ) -> str:
        """Commit the environment with ``changes`` (path under the env folder -> text, or None
        to delete) and ``root`` files (repository paths), fetch it into the mirror, and return
        the commit id."""
        for path, content in (root or {}).items():
            self.files[path] = content.encode()
        for path, text in changes.items():
            key = f"{self.base}/{path}"
            if text is None:
                self.files.pop(key, None)
            else:
                self.files[key] = text.encode()
        head = commit(self.remote, nest(self.files))
        self.mirror.fetch()
        return head

    def initial(self, **options: str) -> str:
        env = environment_yaml(
            self.tenant, self.name, namespace=self.namespace, folder=self.folder, vm=self.vm,
            **options,
        )  # fmt: skip
        apps: dict[str, str | None] = {"environment.yaml": env, WEB: web_yaml()}
        if self.vm:
            apps[DB] = db_yaml()
        return self.push(apps)

    def target(self) -> Target:
        return Target(self.tenant, self.name, self.mirror, repository=f"file://{self.remote_dir}")
