"""Repositories registered through the tenant API are adopted by a running engine: their webhook
secret is read from a real OpenBao dev server under the registering tenant's mount, a signed push
is then accepted and the environment reconciled; a registration whose secret is missing waits
for the next refresh; another tenant's Vault path is never read. A registration changed or
deleted through the API is followed: a deleted one's pushes are refused, a removed environment's
target is gone, and pushes to a changed branch are reconciled."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
import yaml
from structlog.testing import capture_logs

from core.resources import SecretRef
from drivers.fake import FakeWorld
from drivers.vault import VaultSecretSource
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import Engine, EngineSettings, Source
from reconciler.wiring.registered import RegistrationRefresher, repository_name
from reconciler.workers import RECONCILE
from rxt.api import create_app
from rxt.api.access import TenantServices
from rxt.api.serving import running_in_thread
from rxt.api.urls import UrlPolicy
from simulators import openbao
from state.access import Role, find_tenant
from state.models import Run
from state.registrations import registered_repositories
from state.store import Store
from state.tenancy import Registration
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import EnvRepo, environment_yaml, web_yaml
from tests.reconciler.gitrepos import commit, make_remote, nest

SITES = ("spot", "sddc", "nsx")
HOOK_VALUE = "registered-hook-value-5d1c"
CHAT = "https://chat.acme.example/hooks/deploys"


@pytest.fixture(scope="module")
def bao() -> Iterator[openbao.OpenBaoServer]:
    with openbao.running() as server:
        yield server


@pytest.fixture
def admin(bao: openbao.OpenBaoServer) -> hvac.Client:
    """A root client standing in for the tenant who writes its secrets."""
    return hvac.Client(url=bao.url, token=bao.root_token)


def write(admin: hvac.Client, tenant: str, path: str, **data: str) -> None:
    admin.secrets.kv.v2.create_or_update_secret(
        path=f"tenants/{tenant}/{path}", secret=data, mount_point="secret"
    )


@dataclass
class Stage:
    """An engine with the fake world and Vault, the tenant API beside it, and a refresher."""

    engine: Engine
    api: TenantServices
    refresher: RegistrationRefresher
    world: FakeWorld
    repo: EnvRepo
    hook_path: str  # unique per test: the module shares one OpenBao server

    @property
    def url(self) -> str:
        return f"file://{self.repo.remote_dir}"

    def body(self, **changes: Any) -> dict[str, Any]:
        manifest = yaml.safe_load(
            environment_yaml("acme", "prod", namespace="acme-prod", folder="acme-prod")
        )
        document = {
            "url": self.url,
            "webhookSecretRef": {"path": self.hook_path, "key": "secret"},
            "environments": [{"name": "prod", "path": "environments/prod", "manifest": manifest}],
        }
        return {**document, **changes}

    def register(self, tenant: str, url: str, *, path: str, folder: str = "") -> None:
        """Register straight through the store, as the API does after its checks."""
        tenant_id = find_tenant(self.engine.store.database, tenant)
        assert tenant_id is not None
        envs = {"prod": folder or "environments/prod"}
        registration = Registration(
            url=url, branch="main", webhook_secret_ref={"path": path, "key": "secret"},
            environments=envs,
        )  # fmt: skip
        self.api.tenancy.register(tenant_id, registration, tenant=tenant, actor="test")


@pytest.fixture
def stage(
    store: Store, world: FakeWorld, env_repo: EnvRepo, bao: openbao.OpenBaoServer, tmp_path: Path
) -> Iterator[Stage]:
    sites = fake_sites(world)
    sites.secrets = VaultSecretSource(bao.url, token=bao.root_token)
    engine = Engine(store, sites, [], settings=EngineSettings(workers=0, drift_schedule=False))
    api = TenantServices.of(store, urls=UrlPolicy.of(schemes=("https", "http", "file")))
    for tenant in ("acme", "beta"):
        api.grants.grant(tenant, SITES)
    refresher = RegistrationRefresher(engine, cache_dir=tmp_path / "adopted", interval=600)
    yield Stage(engine, api, refresher, world, env_repo, f"hooks/{uuid.uuid4().hex[:12]}")
    refresher.stop()
    engine.stop()


def app_of(stage: Stage) -> Any:
    return create_app(
        secrets=stage.engine.webhook_secrets, enqueue=stage.engine.enqueue,
        deliveries=StoreDeliveryLog(stage.engine.store.catalog), tenant_api=stage.api,
    )  # fmt: skip


def deployer(stage: Stage) -> dict[str, str]:
    issued = stage.api.tokens.issue("acme", role=Role.DEPLOYER, name="ci")
    return {"Authorization": f"Bearer {issued.secret}"}


def push(
    base: str, stage: Stage, head: str, *, secret: str = HOOK_VALUE, branch: str = "main"
) -> httpx.Response:
    body = {**payloads.github_push(after=head), "ref": f"refs/heads/{branch}"}
    body["repository"] = {**payloads.GITHUB_REPO, "full_name": repository_name(stage.url)}
    signed = payloads.github("push", body, secret=secret)
    return httpx.post(f"{base}/webhooks/github", content=signed.body, headers=signed.headers)


def test_a_repository_registered_through_the_api_is_adopted_and_a_signed_push_reconciles_it(
    stage: Stage, admin: hvac.Client
) -> None:
    head = stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(
            f"{base}/api/v1/repositories", json=stage.body(), headers=deployer(stage)
        )
        assert answer.status_code == 201, answer.text
        assert push(base, stage, head).status_code != 202  # not adopted yet: unknown
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        assert push(base, stage, head).status_code == 202
    assert stage.engine.worker("w").step()
    assert [r.status for r in stage.engine.results] == ["succeeded"]
    assert stage.world.writes > 0
    assert stage.refresher.refresh() == []  # nothing changed: nothing adopted again


def test_a_registration_wakes_the_running_refresher_at_once(
    stage: Stage, admin: hvac.Client
) -> None:
    stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    stage.api = replace(stage.api, registered=stage.refresher.wake)
    stage.refresher.start()  # refreshes every 600 s: only the wake-up can adopt in time
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(
            f"{base}/api/v1/repositories", json=stage.body(), headers=deployer(stage)
        )
        assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 20
        while repository_name(stage.url) not in stage.engine.sources:
            assert time.monotonic() < deadline, "the registration was not adopted"
            time.sleep(0.05)
    assert "acme/prod" in stage.engine.targets


def test_a_registration_whose_secret_is_missing_is_skipped_and_adopted_once_it_appears(
    stage: Stage, admin: hvac.Client
) -> None:
    stage.repo.initial()
    stage.register("acme", stage.url, path=stage.hook_path)
    with capture_logs() as logs:
        assert stage.refresher.refresh() == []
        assert stage.refresher.refresh() == []
    skipped = [e for e in logs if e["event"] == "registration.skipped"]
    # Said once, not per refresh; the repeat is a debug event, which another test's logging
    # set-up may filter out before it is captured.
    assert [e["log_level"] for e in skipped if e["log_level"] != "debug"] == ["warning"]
    assert "Vault has no such secret" in skipped[0]["error"]
    assert "acme/prod" not in stage.engine.targets
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    assert stage.refresher.refresh() == [repository_name(stage.url)]
    assert stage.engine.sources[repository_name(stage.url)].webhook_secrets == (HOOK_VALUE,)


def test_another_tenants_vault_path_is_never_read(
    stage: Stage, admin: hvac.Client, tmp_path: Path, bao: openbao.OpenBaoServer
) -> None:
    # The engine's token may read beta's secrets only: a read under acme's mount would be
    # denied by OpenBao itself and show as "denied", not as beta's secret missing.
    policy = (
        'path "secret/data/tenants/beta/*" { capabilities = ["read"] }\n'
        'path "secret/metadata/tenants/beta/*" { capabilities = ["read"] }\n'
    )
    admin.sys.create_or_update_policy(name="engine-beta-only", policy=policy)
    token = admin.auth.token.create(policies=["engine-beta-only"], ttl="10m")["auth"]
    stage.refresher.secrets = VaultSecretSource(bao.url, token=token["client_token"])
    write(admin, "acme", stage.hook_path, secret="acme-only-value")
    beta_url = f"file://{tmp_path / 'beta' / 'ledger.git'}"
    make_remote(tmp_path / "beta" / "ledger.git")
    stage.register("beta", beta_url, path=stage.hook_path)  # the same path, under beta's mount
    with capture_logs() as logs:
        assert stage.refresher.refresh() == []
    [skipped] = [e for e in logs if e["event"] == "registration.skipped"]
    assert f"Vault secret/tenants/beta/{stage.hook_path}" in skipped["error"]
    assert "no such secret" in skipped["error"]
    write(admin, "beta", stage.hook_path, secret="beta-value")
    assert stage.refresher.refresh() == [repository_name(beta_url)]
    source = stage.engine.sources[repository_name(beta_url)]
    assert (source.tenant, source.webhook_secrets) == ("beta", ("beta-value",))


def test_a_rotated_secret_is_taken_up_at_the_next_refresh_on_the_same_mirror(
    stage: Stage, admin: hvac.Client
) -> None:
    stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    stage.register("acme", stage.url, path=stage.hook_path)
    name = repository_name(stage.url)
    assert stage.refresher.refresh() == [name]
    mirror = stage.engine.sources[name].mirror
    write(admin, "acme", stage.hook_path, secret="rotated-value")
    assert stage.refresher.refresh() == [name]
    assert stage.engine.sources[name].webhook_secrets == ("rotated-value",)
    assert stage.engine.sources[name].mirror is mirror


def test_an_adopted_environment_gets_its_drift_schedule(stage: Stage, admin: hvac.Client) -> None:
    stage.repo.initial(interval="90s")
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    stage.register("acme", stage.url, path=stage.hook_path)
    stage.engine.settings.drift_schedule = True
    stage.engine.schedule.start()
    stage.refresher.refresh()
    assert stage.engine.schedule.intervals == {"acme/prod": 90.0}


def test_an_environment_outside_the_environments_folder_is_skipped_naming_the_folder(
    stage: Stage, admin: hvac.Client
) -> None:
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    stage.register("acme", stage.url, path=stage.hook_path, folder="deploy/prod")
    with capture_logs() as logs:
        assert stage.refresher.refresh() == []
    [skipped] = [e for e in logs if e["event"] == "registration.skipped"]
    assert "'deploy/prod'" in skipped["error"]
    assert "'environments/prod'" in skipped["error"]


def test_the_api_refuses_an_environment_path_the_engine_cannot_read(stage: Stage) -> None:
    body = stage.body()
    body["environments"][0]["path"] = "deploy/prod"
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(f"{base}/api/v1/repositories", json=body, headers=deployer(stage))
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("/unsupported-path")
    assert "environments/prod" in answer.json()["detail"]


def test_a_name_or_environment_of_the_configuration_is_never_taken_over(
    stage: Stage, admin: hvac.Client
) -> None:
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    configured = Source(repository_name(stage.url), stage.repo.mirror, "acme", ("prod",),
                        webhook_secrets=("configured",))  # fmt: skip
    stage.engine.add_source(configured)
    stage.register("acme", stage.url, path=stage.hook_path)
    with capture_logs() as logs:
        assert stage.refresher.refresh() == []
    [skipped] = [e for e in logs if e["event"] == "registration.skipped"]
    assert "is already followed" in skipped["error"]
    assert stage.engine.sources[configured.name] is configured


def test_without_vault_a_registration_is_skipped_with_a_hint(stage: Stage) -> None:
    stage.register("acme", stage.url, path=stage.hook_path)
    stage.refresher.secrets = None
    with capture_logs() as logs:
        assert stage.refresher.refresh() == []
    [skipped] = [e for e in logs if e["event"] == "registration.skipped"]
    assert "no Vault connection" in skipped["error"]


def test_the_refresher_thread_outlives_a_failed_read_and_stops_with_the_engine(
    stage: Stage,
) -> None:
    calls = []

    def failing() -> list[Any]:
        calls.append(1)
        raise RuntimeError("database unavailable")

    refresher = RegistrationRefresher(
        stage.engine, cache_dir=Path("unused"), interval=0.05, read=failing
    )
    refresher.start()
    deadline = time.monotonic() + 10
    while len(calls) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    refresher.stop(timeout=10)
    assert refresher._thread is not None
    assert not refresher._thread.is_alive()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/acme/env-repo.git", "acme/env-repo"),
        ("https://gitlab.example.com/group/sub/project.git", "group/sub/project"),
        ("https://github.com/acme/env-repo/", "acme/env-repo"),
        ("git@github.com:acme/env-repo.git", "acme/env-repo"),
        ("https://github.com/", ""),
    ],
)
def test_the_webhook_name_is_the_url_path_without_dot_git(url: str, name: str) -> None:
    assert repository_name(url) == name


@pytest.mark.parametrize("which", ["store", "pg_store"])
def test_every_registration_is_read_with_its_tenant_refs_and_folders(
    request: pytest.FixtureRequest, which: str
) -> None:
    store: Store = request.getfixturevalue(which)
    api = TenantServices.of(store)
    for tenant in ("acme", "beta"):
        api.grants.grant(tenant, SITES)
        tenant_id = find_tenant(store.database, tenant)
        assert tenant_id is not None
        registration = Registration(
            url=f"https://git.example.com/{tenant}/env.git", branch="release",
            webhook_secret_ref={"path": "ci/hook", "key": "secret"},
            credentials_ref={"path": "ci/git", "key": "token"} if tenant == "acme" else None,
            environments={"prod": "environments/prod"},
        )  # fmt: skip
        api.tenancy.register(tenant_id, registration, tenant=tenant, actor="test")
    acme, beta = registered_repositories(store.database)
    assert (acme.tenant, acme.url, acme.branch) == (
        "acme", "https://git.example.com/acme/env.git", "release",
    )  # fmt: skip
    assert (acme.webhook_secret_ref, acme.credentials_ref) == (
        SecretRef("ci/hook", "secret"), SecretRef("ci/git", "token"),
    )  # fmt: skip
    assert (beta.tenant, beta.credentials_ref) == ("beta", None)
    assert dict(beta.environments) == {"prod": "environments/prod"}


def adopted(stage: Stage, admin: hvac.Client) -> str:
    """A registered, adopted repository whose first sync (queued by the adoption) applied."""
    head = stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    stage.register("acme", stage.url, path=stage.hook_path)
    assert stage.refresher.refresh() == [repository_name(stage.url)]
    assert stage.engine.worker("w").step()
    assert [r.status for r in stage.engine.results] == ["succeeded"]
    return head


def test_adopting_a_registration_queues_its_first_sync_once(
    stage: Stage, admin: hvac.Client
) -> None:
    adopted(stage, admin)
    assert stage.world.writes > 0
    assert stage.refresher.refresh() == []
    assert not stage.engine.worker("w").step(), "a second refresh queued another sync"


def test_a_later_commit_reaching_outside_the_tenant_is_refused_and_nothing_is_applied(
    stage: Stage, admin: hvac.Client
) -> None:
    """Registration checked the environment.yaml it was sent; the engine checks every commit
    after it, so a push cannot move the environment into another tenant's namespace."""
    adopted(stage, admin)
    writes = stage.world.writes
    outside = environment_yaml("acme", "prod", namespace="beta-prod", folder="acme-prod")
    stage.repo.push({"environment.yaml": outside})
    stage.engine.store.queue.enqueue(RECONCILE, key="acme/prod", payload={"trigger": "push"})

    assert stage.engine.worker("w").step()

    refused = stage.engine.results[-1]
    assert refused.status == "invalid"
    assert "reaches outside tenant acme" in refused.error
    assert "spec.sites.kubernetes.namespace 'beta-prod' is not acme-*" in refused.error
    assert stage.world.writes == writes


def test_a_withdrawn_grant_stops_the_next_reconcile_of_the_same_commit(
    stage: Stage, admin: hvac.Client
) -> None:
    adopted(stage, admin)
    stage.api.grants.grant("acme", ("spot",))  # sddc and nsx withdrawn
    stage.engine.store.queue.enqueue(RECONCILE, key="acme/prod", payload={"trigger": "api"})

    assert stage.engine.worker("w").step()

    refused = stage.engine.results[-1]
    assert refused.status == "invalid"
    assert "spec.sites.vsphere.site 'sddc' is not granted" in refused.error


def test_a_registered_notification_url_receives_its_environments_messages(
    stage: Stage, admin: hvac.Client
) -> None:
    stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    tenant_id = find_tenant(stage.engine.store.database, "acme")
    assert tenant_id is not None
    registration = Registration(
        url=stage.url, branch="main", environments={"prod": "environments/prod"},
        webhook_secret_ref={"path": stage.hook_path, "key": "secret"}, notify_url=CHAT,
    )  # fmt: skip
    stage.api.tenancy.register(tenant_id, registration, tenant="acme", actor="test")

    assert stage.refresher.refresh() == [repository_name(stage.url)]

    assert stage.engine.notifier.routes == {
        "acme/prod": ("https://chat.acme.example/hooks/deploys",)
    }


def admin_token(stage: Stage) -> dict[str, str]:
    issued = stage.api.tokens.issue("acme", role=Role.ADMIN, name="owner")
    return {"Authorization": f"Bearer {issued.secret}"}


def registered_through_the_api(base: str, stage: Stage, admin: hvac.Client) -> int:
    """Register the stage's repository over HTTP, adopt it, and run its first sync."""
    stage.repo.initial()
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    answer = httpx.post(f"{base}/api/v1/repositories", json=stage.body(), headers=deployer(stage))
    assert answer.status_code == 201, answer.text
    assert stage.refresher.refresh() == [repository_name(stage.url)]
    assert stage.engine.worker("w").step()
    return int(answer.json()["id"])


def test_after_a_delete_a_signed_push_is_refused_and_nothing_is_reconciled(
    stage: Stage, admin: hvac.Client
) -> None:
    stage.engine.settings.drift_schedule = True
    with running_in_thread(app_of(stage), port=free_port()) as base:
        repository_id = registered_through_the_api(base, stage, admin)
        assert "acme/prod" in stage.engine.schedule.intervals
        head = stage.repo.push({"apps/web/deploy.yaml": web_yaml(replicas=5)})
        gone = httpx.delete(f"{base}/api/v1/repositories/{repository_id}",
                            headers=admin_token(stage))  # fmt: skip
        assert gone.status_code == 200, gone.text
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        refused = push(base, stage, head)
    assert refused.status_code != 202
    assert not stage.engine.worker("w").step(), "work was queued for a deleted registration"
    assert len(stage.engine.results) == 1  # the first sync only
    assert "acme/prod" not in stage.engine.targets
    assert repository_name(stage.url) not in stage.engine.sources
    assert "acme/prod" not in stage.engine.schedule.intervals
    assert stage.refresher.refresh() == []


def test_after_a_patch_removing_an_environment_its_target_is_gone(
    stage: Stage, admin: hvac.Client
) -> None:
    with running_in_thread(app_of(stage), port=free_port()) as base:
        repository_id = registered_through_the_api(base, stage, admin)
        stage.repo.push({}, root={"environments/stage/environment.yaml": environment_yaml(
            "acme", "stage", namespace="acme-stage", folder="acme-stage")})  # fmt: skip
        manifest = yaml.safe_load(
            environment_yaml("acme", "stage", namespace="acme-stage", folder="acme-stage")
        )
        added = httpx.patch(
            f"{base}/api/v1/repositories/{repository_id}", headers=deployer(stage),
            json={"addEnvironments": [{"name": "stage", "path": "environments/stage",
                                       "manifest": manifest}]},
        )  # fmt: skip
        assert added.status_code == 200, added.text
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        assert {"acme/prod", "acme/stage"} <= set(stage.engine.targets)
        assert stage.engine.worker("w").step()  # the added environment's first sync
        assert stage.engine.results[-1].status == "unchanged"  # no app in it yet
        removed = httpx.patch(
            f"{base}/api/v1/repositories/{repository_id}",
            headers=admin_token(stage),
            json={"removeEnvironments": ["stage"]},
        )
        assert removed.status_code == 200, removed.text
        assert stage.refresher.refresh() == [repository_name(stage.url)]
    assert "acme/stage" not in stage.engine.targets
    assert "acme/prod" in stage.engine.targets
    assert stage.engine.sources[repository_name(stage.url)].environments == ("prod",)
    assert not stage.engine.worker("w").step(), "removing an environment queued work"


def test_after_a_patch_of_the_branch_pushes_to_the_new_branch_are_reconciled(
    stage: Stage, admin: hvac.Client
) -> None:
    with running_in_thread(app_of(stage), port=free_port()) as base:
        repository_id = registered_through_the_api(base, stage, admin)
        files = dict(stage.repo.files)
        files["environments/prod/apps/web/deploy.yaml"] = web_yaml(replicas=4).encode()
        release = commit(stage.repo.remote, nest(files), branch="release")
        changed = httpx.patch(f"{base}/api/v1/repositories/{repository_id}",
                              headers=deployer(stage), json={"branch": "release"})  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["branch"] == "release"
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        old_branch = push(base, stage, release)
        assert old_branch.status_code == 202
        assert not stage.engine.worker("w").step(), "a push to main was queued"
        accepted = push(base, stage, release, branch="release")
    assert accepted.status_code == 202
    assert stage.engine.worker("w").step()
    result = stage.engine.results[-1]
    assert result.status == "succeeded"
    with stage.engine.store.database.read() as session:
        run = session.get(Run, result.run_id)
        assert run is not None
        assert run.commit == release  # the new branch's head, not main's
