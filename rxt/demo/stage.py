"""The demo's stage: vcsim, the Kubernetes, NSX and GitHub fakes, OpenBao, a Git host, the SQLite
state store, the engine (workers and registration refresher) and its HTTP API (webhooks and the
tenant API), each on a free loopback port, stopped by process id or thread shutdown.

``rxt.demo.story`` enters ``staged``; everything started is stopped on the way out, also on an
error or Ctrl-C.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import httpx
import hvac
from kubernetes import client as k8s

from core.errors import RxtError
from core.resources import Change, ObservedResource, Platform, ResourceRef
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.nsx import NsxDriver, NsxSettings
from drivers.protocol import Applied, Driver, Health, Scope
from drivers.vault import VaultSecretSource
from drivers.vsphere import VsphereDriver
from planner.loading import load_environment
from planner.rendering import render_environment
from reconciler.sites import Sites
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import Engine
from reconciler.wiring.reviews import ForgeAccess
from rxt.api import create_app
from rxt.api.access import TenantServices
from rxt.api.serving import running_in_thread
from rxt.demo.engine import WORKERS, Running, running_engine
from rxt.demo.githost import GitHost, start_git_host
from rxt.settings import Settings
from simulators import openbao
from simulators.github import ForgeSimulator
from simulators.kubernetes import FakeApiServer
from simulators.nsx import NsxSimulator
from simulators.vcsim import launcher
from state.store import Store

TENANT = "acme"
REPOSITORY = "acme/envs"
REVIEW = 7
FORGE_TOKEN = "ghp-demo-token"  # noqa: S105 - the fake forge's throwaway token
WEBHOOK_SECRET = "demo-github-webhook-secret"  # noqa: S105 - signs the demo's own webhooks
# Where the tenant keeps the webhook secret (under its mount), as the registration names it.
WEBHOOK_SECRET_REF = {"path": "ci/github-webhook", "key": "secret"}
# The secrets the example repository references and the repository's webhook secret, as a
# tenant would have written them.
SECRETS = {
    WEBHOOK_SECRET_REF["path"]: {WEBHOOK_SECRET_REF["key"]: WEBHOOK_SECRET},
    "api/db": {"password": "demo-api-db-password"},
    "db/admin": {"password": "demo-db-admin-password"},
    "payments/card-vault": {"token": "demo-card-vault-token"},
}

# A placeholder the NSX fake stores as given; a real operator imports the app's real certificate.
DEMO_CERTIFICATE = "-----BEGIN CERTIFICATE-----\n(demo)\n-----END CERTIFICATE-----"

Step = Callable[[str], AbstractContextManager[None]]


@dataclass
class Stage:
    """Everything the scenes talk to."""

    data_dir: Path
    settings: Settings
    vcsim: launcher.Vcsim
    kube: FakeApiServer
    nsx: NsxSimulator
    forge: ForgeSimulator
    bao: openbao.OpenBaoServer
    git: GitHost
    store: Store
    sites: Sites
    running: Running
    api_url: str
    operator_token: str
    feed: Feed

    @property
    def engine(self) -> Engine:
        return self.running.engine

    def places(self) -> list[tuple[str, str, str]]:
        """Each part: its name, where it listens, and its process id (or that it is a thread)."""
        return [
            ("vcsim", self.vcsim.url, f"pid {self.vcsim.pid}"),
            ("Kubernetes API fake", self.kube.url, "thread"),
            ("NSX Manager fake", self.nsx.url, "thread"),
            ("GitHub fake", self.forge.url, "thread"),
            ("OpenBao", self.bao.url, f"pid {self.bao.pid}"),
            ("Git host (git daemon)", self.git.url, f"pid {self.git.pid}"),
            ("state store", self.settings.database_url, "SQLite file"),
            ("engine", f"{WORKERS} workers, registration refresher", "threads"),
            ("webhooks", f"{self.api_url}/webhooks/github", "thread"),
            ("tenant API", f"{self.api_url}/api/v1", "thread"),
        ]

    def pids(self) -> list[int]:
        """The processes the stage started (the rest are threads of this process)."""
        return [self.vcsim.pid, self.bao.pid, self.git.pid]


class Feed:
    """Every change the drivers applied, passed on to whoever listens (a progress bar)."""

    def __init__(self) -> None:
        self.applied: list[ResourceRef] = []
        self.listener: Callable[[Applied], None] | None = None

    def __call__(self, done: Applied) -> None:
        self.applied.append(done.ref)
        if self.listener is not None:
            self.listener(done)


class Watched:
    """A driver that reports each applied change, so the demo can draw a progress bar."""

    platform: ClassVar[str] = "watched"

    def __init__(self, inner: Driver, *, seen: Callable[[Applied], None]) -> None:
        self.inner, self.seen = inner, seen

    def observe(self, scope: Scope) -> list[ObservedResource]:
        return self.inner.observe(scope)

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        done = self.inner.apply(change, dry_run=dry_run)
        self.seen(done)
        return done

    def health(self, ref: ResourceRef) -> Health:
        return self.inner.health(ref)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_secrets(bao: openbao.OpenBaoServer) -> None:
    """The tenant's secrets, under the default layout (secret/ KV v2, tenants/<tenant>/)."""
    admin = hvac.Client(url=bao.url, token=bao.root_token)
    for path, data in SECRETS.items():
        admin.secrets.kv.v2.create_or_update_secret(
            path=f"tenants/{TENANT}/{path}", secret=data, mount_point="secret"
        )


def certificate_paths(example: Path, environment: str) -> list[str]:
    """The NSX certificate paths the environment's virtual servers present (TLS ``expose``)."""
    view = load_environment(example / "environments" / environment, repo_root=example)
    paths = {
        str(binding["default_certificate_path"])
        for resource in render_environment(view)
        if resource.ref.kind == "LBVirtualServer"
        and (binding := resource.spec.get("client_ssl_profile_binding"))
    }
    return sorted(paths)


def import_certificates(nsx: NsxSimulator, paths: list[str]) -> None:
    """What the operator does before a TLS app is exposed: import its certificate into NSX (the
    engine only references it; importing certificates from Vault is not built)."""
    auth = (nsx.username, nsx.password)
    with httpx.Client(base_url=f"{nsx.url}/policy/api/v1", auth=auth, timeout=10.0) as api:
        for path in paths:
            api.patch(path, json={"pem_encoded": DEMO_CERTIFICATE}).raise_for_status()


def build_sites(
    *, vcsim: launcher.Vcsim, kube: FakeApiServer, nsx: NsxSimulator, bao: openbao.OpenBaoServer,
    seen: Callable[[Applied], None],
) -> Sites:  # fmt: skip
    """The real drivers on the simulators, one per platform serving every site name."""
    sites = Sites(secrets=VaultSecretSource(bao.url, token=bao.root_token))
    configuration = k8s.Configuration()
    configuration.host = kube.url
    configuration.retries = retry_policy()
    kubernetes = KubernetesDriver(k8s.ApiClient(configuration), secrets=sites.secrets)
    vsphere = VsphereDriver(
        vcsim.host, port=vcsim.port, user=vcsim.username, password=vcsim.password,
        protocol="http", secrets=sites.secrets, vault_address=bao.url,
    )  # fmt: skip
    settings = NsxSettings(
        url=nsx.url, username=nsx.username, password=nsx.password, timeout_seconds=10.0,
        backoff_seconds=0.05, realization_timeout_seconds=30.0, poll_seconds=0.05,
    )  # fmt: skip
    drivers: dict[Platform, Any] = {
        Platform.KUBERNETES: kubernetes,
        Platform.VSPHERE: vsphere,
        Platform.NSX: NsxDriver(settings),
    }
    for platform, driver in drivers.items():
        sites.add(platform, Watched(driver, seen=seen))
    return sites


def _store(data_dir: Path, *, git: GitHost) -> tuple[Settings, Store]:
    # Every path is given, so RXT_* variables of the caller's shell cannot point the demo at a
    # real database. The Git host is git:// on loopback, which an operator allows by name
    # (RXT_ALLOWED_URL_SCHEMES, RXT_ALLOWED_HOSTS); registration refuses it otherwise.
    # Imported here: rxt.commands imports the demo command, which imports this module.
    from rxt.commands.db import open_configured_store  # noqa: PLC0415

    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'rxt.db'}",
        audit_signing_key=data_dir / "audit-signing-key.pem",
        allowed_url_schemes=["https", "http", "git"],
        allowed_hosts=[f"127.0.0.1:{git.port}"],
    )
    return settings, open_configured_store(settings)


def _api(store: Store, settings: Settings, running: Running, stack: ExitStack) -> tuple[str, str]:
    """Serve the webhooks and the tenant API as ``rxt serve`` does; returns the API's URL and
    the operator token made at first start."""
    api = TenantServices.configured(store, settings)
    api = replace(api, registered=running.refresher.wake)
    issued = api.tokens.ensure_operator()
    if issued is None:
        raise RuntimeError("the demo's fresh store already had an operator token")
    engine = running.engine
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog), tenant_api=api,
    )  # fmt: skip
    url = stack.enter_context(running_in_thread(app, port=free_port()))
    return url, issued.secret


class StageFailed(RxtError):
    """A part of the demo's stage did not start."""


@contextmanager
def _starting(step: Step, text: str) -> Iterator[None]:
    """One start-up step; whatever stops it becomes a ``StageFailed`` naming the part."""
    with step(text):
        try:
            yield
        except RxtError:
            raise
        except Exception as error:  # any failure to start is reported the same way
            raise StageFailed(
                f"{text} did not start: {type(error).__name__}: {error}",
                hint="`make demo` installs what the simulators need (make debs, make venv); "
                "run it again, or see docs/demo.md",
            ) from error


@contextmanager
def staged(data_dir: Path, *, step: Step) -> Iterator[Stage]:
    """Start everything, yield the stage, stop everything (in reverse order) on the way out."""
    feed = Feed()
    with ExitStack() as stack:
        with _starting(step, "vcsim (vSphere API; built once, about 30 s the first time)"):
            vcsim = launcher.start(timeout=180.0)
            stack.callback(vcsim.stop)
        with _starting(step, "Kubernetes API fake"):
            kube = FakeApiServer(tick=0.05).start()
            stack.callback(kube.stop)
        with _starting(step, "NSX Manager fake"):
            nsx = NsxSimulator(delete_ticks=0).start()
            stack.callback(nsx.stop)
        with _starting(step, "GitHub fake"):
            forge = stack.enter_context(ForgeSimulator())
            forge.add_token(FORGE_TOKEN)
            forge.add_repository(REPOSITORY, reviews=(REVIEW,))
        with _starting(step, "OpenBao dev server, with the tenant's secrets"):
            bao = openbao.start()
            stack.callback(openbao.stop, bao)
            write_secrets(bao)
        with _starting(step, "Git host (git daemon) for the tenant's repository"):
            git = start_git_host(data_dir / "git", port=free_port())
            stack.callback(git.stop)
        with _starting(step, "state store (SQLite)"):
            settings, store = _store(data_dir, git=git)
            stack.callback(store.close)
        with _starting(step, f"the engine: {WORKERS} workers and the registration refresher"):
            sites = build_sites(vcsim=vcsim, kube=kube, nsx=nsx, bao=bao, seen=feed)
            access = ForgeAccess("github", FORGE_TOKEN, forge.url)
            running = stack.enter_context(
                running_engine(store, sites=sites, forge=access, cache_dir=data_dir / "mirrors")
            )
        with _starting(step, "the engine's HTTP API: webhooks and the tenant API"):
            api_url, operator = _api(store, settings, running, stack)
        yield Stage(
            data_dir, settings, vcsim, kube, nsx, forge, bao, git, store, sites, running,
            api_url, operator, feed,
        )  # fmt: skip
