"""A secret written to OpenBao reaches the Kubernetes Secret at apply time; a rotation rolls it."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import hvac
from kubernetes import client as k8s

from core.resources import Action, SecretRef
from drivers.kubernetes import KubernetesDriver
from drivers.vault import VaultSecretSource
from planner.plans import Plan
from planner.views import render
from tests.integration.world import Repo, apply, plan, write_secret

DB_PASSWORD = SecretRef("payments/db", "password")
VERSIONS = "deploy.rxt.io/secret-versions"


def secret_data(api: k8s.ApiClient, repo: Repo, name: str) -> dict[str, str]:
    found = k8s.CoreV1Api(api).read_namespaced_secret(name, repo.namespace)
    return {k: base64.b64decode(v).decode() for k, v in (found.data or {}).items()}


def template_versions(api: k8s.ApiClient, repo: Repo) -> str:
    found = k8s.AppsV1Api(api).read_namespaced_deployment("payments", repo.namespace)
    return str(found.spec.template.metadata.annotations[VERSIONS])


def changed(plan_: Plan) -> dict[str, Action]:
    return {f"{c.ref.kind}/{c.ref.name}": c.action for c in plan_.changes}


def test_a_value_written_to_openbao_reaches_the_kubernetes_secret(
    admin: hvac.Client,
    source: VaultSecretSource,
    kube_driver: KubernetesDriver,
    kube_client: k8s.ApiClient,
    repo: Repo,
) -> None:
    write_secret(admin, repo.tenant, "payments/db", password="delivered-7c1e", user="app")
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})

    first = plan(repo, driver=kube_driver, source=source)
    apply(first.changes, driver=kube_driver)

    assert "delivered-7c1e" in secret_data(kube_client, repo, "payments-secrets").values()
    # Planning again against what is now live finds nothing to do: observe drops ``data``.
    assert plan(repo, driver=kube_driver, source=source).changes == ()


def test_every_secret_key_a_pod_reads_is_filled_in_the_secret(
    admin: hvac.Client,
    source: VaultSecretSource,
    kube_driver: KubernetesDriver,
    kube_client: k8s.ApiClient,
    repo: Repo,
) -> None:
    write_secret(admin, repo.tenant, "payments/db", password="keyed-4d2a")
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})
    apply(plan(repo, driver=kube_driver, source=source).changes, driver=kube_driver)

    deployment = k8s.AppsV1Api(kube_client).read_namespaced_deployment("payments", repo.namespace)
    wanted: list[Any] = [
        env.value_from.secret_key_ref
        for env in deployment.spec.template.spec.containers[0].env
        if env.value_from is not None
    ]
    data = secret_data(kube_client, repo, "payments-secrets")
    assert {(ref.name, ref.key) for ref in wanted} == {("payments-secrets", "DB_PASSWORD")}
    assert data.get("DB_PASSWORD") == "keyed-4d2a"


def test_a_rotation_changes_the_versions_digest_and_rolls_the_pods(
    admin: hvac.Client,
    source: VaultSecretSource,
    kube_driver: KubernetesDriver,
    kube_client: k8s.ApiClient,
    repo: Repo,
) -> None:
    write_secret(admin, repo.tenant, "payments/db", password="before-rotation")
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})
    apply(plan(repo, driver=kube_driver, source=source).changes, driver=kube_driver)
    digest_before = template_versions(kube_client, repo)

    write_secret(admin, repo.tenant, "payments/db", password="after-rotation")
    rotated = plan(repo, driver=kube_driver, source=source)

    assert changed(rotated) == {
        "Secret/payments-secrets": Action.UPDATE,
        "Deployment/payments": Action.UPDATE,
    }
    for output in ("text", "json", "markdown"):
        shown = render(rotated, output)
        assert "secret-versions" in shown
        assert "after-rotation" not in shown
        assert "before-rotation" not in shown
    apply(rotated.changes, driver=kube_driver)
    assert template_versions(kube_client, repo) != digest_before
    assert "after-rotation" in secret_data(kube_client, repo, "payments-secrets").values()


def test_a_rotation_plan_names_the_rotated_secret_by_reference(
    admin: hvac.Client,
    source: VaultSecretSource,
    kube_driver: KubernetesDriver,
    repo: Repo,
) -> None:
    write_secret(admin, repo.tenant, "payments/db", password="named-before")
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})
    apply(plan(repo, driver=kube_driver, source=source).changes, driver=kube_driver)
    write_secret(admin, repo.tenant, "payments/db", password="named-after")

    shown = render(plan(repo, driver=kube_driver, source=source), "text")
    assert "secret payments/db#password: version changed" in shown


class CountingSource:
    """The Vault source, counting the values read through it."""

    def __init__(self, inner: VaultSecretSource) -> None:
        self.inner = inner
        self.values_read = 0

    def version(self, ref: SecretRef, *, tenant: str) -> int:
        return self.inner.version(ref, tenant=tenant)

    def read(self, ref: SecretRef, *, tenant: str) -> str:
        self.values_read += 1
        return self.inner.read(ref, tenant=tenant)

    def wrap(self, refs: Sequence[SecretRef], *, tenant: str, ttl_seconds: int) -> str:
        return self.inner.wrap(refs, tenant=tenant, ttl_seconds=ttl_seconds)


def test_a_dry_run_apply_reads_no_secret_value(
    admin: hvac.Client,
    source: VaultSecretSource,
    kube_client: k8s.ApiClient,
    repo: Repo,
) -> None:
    write_secret(admin, repo.tenant, "payments/db", password="dry-run-3b9e")
    repo.write({"payments": {"DB_PASSWORD": DB_PASSWORD}})
    counting = CountingSource(source)
    driver = KubernetesDriver(kube_client, secrets=counting)
    found = plan(repo, driver=driver, source=source)
    apply(tuple(c for c in found.changes if c.ref.kind == "Namespace"), driver=driver)

    for change in found.changes:
        driver.apply(change, dry_run=True)
    assert counting.values_read == 0
