"""The Kubernetes driver's own promises, through the official client against the fake server."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from kubernetes import client as k8s

from core.errors import (
    ConfigError,
    FatalError,
    InvalidRequest,
    OwnershipConflict,
    TransientError,
)
from core.resources import Action, Change, DesiredResource, OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.protocol import Driver, Scope
from simulators.kubernetes import FakeApiServer, write_kubeconfig
from tests.drivers.contract import plan_changes
from tests.drivers.kubernetes import scenario
from tests.drivers.kubernetes.conftest import CANARY, DictSecrets

OWNER = OwnerKey("acme", "prod", "shop", "web")


def create(driver: KubernetesDriver, *items: DesiredResource) -> None:
    for change in plan_changes(items, []):
        driver.apply(change)


def observed(driver: KubernetesDriver, scope: Scope) -> dict[str, str]:
    return {f"{item.ref.kind}/{item.ref.name}": item.digest for item in driver.observe(scope)}


def test_observe_lists_each_kind_once_whatever_the_number_of_objects(
    server: FakeApiServer, driver: KubernetesDriver, scope: Scope, namespace: str
) -> None:
    apps = [scenario.deployment(OWNER, namespace, f"web-{n}") for n in range(12)]
    create(driver, *apps)
    server.reset_counts()
    found = driver.observe(scope)
    assert len(found) == 12
    assert server.calls() == 9  # one LIST per managed kind, Namespace included
    assert server.calls(method="GET", prefix="/apis/apps/v1/namespaces/") == 1


def test_observed_specs_match_the_desired_digests_despite_defaults_and_status(
    server: FakeApiServer, driver: KubernetesDriver, scope: Scope, namespace: str
) -> None:
    desired = scenario.app(OWNER, namespace)
    create(driver, *desired)
    server.controllers.step()  # status, an ingress address, new resourceVersions
    assert observed(driver, scope) == {
        f"{item.ref.kind}/{item.ref.name}": item.digest for item in desired
    }


def test_an_edit_by_another_manager_shows_as_drift(
    driver: KubernetesDriver, api: k8s.ApiClient, scope: Scope, namespace: str
) -> None:
    desired = scenario.deployment(OWNER, namespace, "web")
    create(driver, desired)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:1"}]}}}}
    k8s.AppsV1Api(api).patch_namespaced_deployment(
        "web", namespace, patch, _content_type="application/merge-patch+json"
    )
    (change,) = plan_changes([desired], driver.observe(scope))
    assert change.action is Action.UPDATE
    assert driver.apply(change).wrote
    assert plan_changes([desired], driver.observe(scope)) == []


def test_applying_a_converged_object_sends_no_write(
    server: FakeApiServer, driver: KubernetesDriver, namespace: str
) -> None:
    desired = scenario.service(OWNER, namespace, "web")
    (change,) = plan_changes([desired], [])
    driver.apply(change)
    server.reset_counts()
    assert not driver.apply(change).wrote
    assert server.calls(method="PATCH") == 0


def test_an_object_without_our_markers_is_never_adopted(
    server: FakeApiServer, driver: KubernetesDriver, api: k8s.ApiClient, namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 81}]},
    }
    k8s.CoreV1Api(api).create_namespaced_service(namespace, body)
    (change,) = plan_changes([scenario.service(OWNER, namespace, "web")], [])
    server.reset_counts()
    with pytest.raises(OwnershipConflict, match="no rxt-deploy ownership markers"):
        driver.apply(change)
    assert server.calls(method="PATCH") == 0


def test_another_owners_object_is_not_ours_either(driver: KubernetesDriver, namespace: str) -> None:
    create(driver, scenario.service(OWNER, namespace, "web"))
    other = OwnerKey("acme", "prod", "blog", "web")
    (change,) = plan_changes([scenario.service(other, namespace, "web")], [])
    with pytest.raises(OwnershipConflict, match="owner acme/prod/shop/web"):
        driver.apply(change)


def test_secret_data_comes_from_the_source_and_never_into_the_spec(
    driver: KubernetesDriver, api: k8s.ApiClient, scope: Scope, namespace: str, secrets: DictSecrets
) -> None:
    desired = scenario.app(OWNER, namespace)[0]
    (change,) = plan_changes([desired], [])
    applied = driver.apply(change)
    stored = k8s.CoreV1Api(api).read_namespaced_secret(desired.ref.name, namespace)
    assert base64.b64decode(stored.data["db-password"]).decode() == CANARY
    (seen,) = [item for item in driver.observe(scope) if item.ref == desired.ref]
    assert "data" not in seen.spec
    assert seen.digest == desired.digest
    assert CANARY not in repr(applied) + repr(seen)


def test_a_secret_with_references_and_no_source_is_refused_naming_the_reference(
    api: k8s.ApiClient, server: FakeApiServer, namespace: str
) -> None:
    desired = scenario.app(OWNER, namespace)[0]
    (change,) = plan_changes([desired], [])
    server.reset_counts()
    with pytest.raises(FatalError, match="tenants/acme/prod/shop#db-password"):
        KubernetesDriver(api).apply(change)
    assert server.calls(method="PATCH") == 0


@pytest.mark.parametrize(
    ("needs_approval", "approved", "deleted"),
    [(False, False, False), (True, False, False), (False, True, False), (True, True, True)],
)
def test_a_claim_is_deleted_only_when_the_plan_marked_it_and_a_person_approved(
    driver: KubernetesDriver, scope: Scope, needs_approval: bool, approved: bool, deleted: bool
) -> None:
    create(driver, scenario.pvc(OWNER, scope.site["namespace"], "data"))
    (seen,) = driver.observe(scope)
    change = Change(Action.DELETE, seen.ref, OWNER, observed=seen, needs_approval=needs_approval)
    if deleted:
        assert driver.apply(change, approved=approved).wrote
    else:
        with pytest.raises(InvalidRequest, match="only with approval"):
            driver.apply(change, approved=approved)
    assert len(driver.observe(scope)) == (0 if deleted else 1)


def test_a_delete_never_removes_an_object_recreated_since_it_was_observed(
    driver: KubernetesDriver, scope: Scope, namespace: str
) -> None:
    desired = scenario.service(OWNER, namespace, "web")
    create(driver, desired)
    (old,) = driver.observe(scope)
    driver.apply(Change(Action.DELETE, old.ref, OWNER, observed=old))
    create(driver, desired)
    with pytest.raises(TransientError, match="re-created"):
        driver.apply(Change(Action.DELETE, old.ref, OWNER, observed=old))
    assert len(driver.observe(scope)) == 1


def test_with_an_hpa_the_replicas_are_left_to_it(
    server: FakeApiServer,
    driver: KubernetesDriver,
    api: k8s.ApiClient,
    scope: Scope,
    namespace: str,
) -> None:
    desired = [
        scenario.deployment(OWNER, namespace, "web", replicas=None),
        scenario.hpa(OWNER, namespace, "web", low=3),
    ]
    create(driver, *desired)
    server.controllers.step()  # the HPA scales the Deployment to its minimum
    assert k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).spec.replicas == 3
    assert plan_changes(desired, driver.observe(scope)) == []
    for change in plan_changes(desired, []):
        assert not driver.apply(change).wrote
    assert k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace).spec.replicas == 3


def test_an_invalid_object_is_refused_with_the_servers_causes(
    driver: KubernetesDriver, namespace: str
) -> None:
    bad = scenario.deployment(OWNER, namespace, "web", replicas=-1)
    (change,) = plan_changes([bad], [])
    with pytest.raises(InvalidRequest, match=r"spec\.replicas: Invalid value: -1"):
        driver.apply(change)


@pytest.mark.parametrize(
    "row",
    [
        (429, TransientError, "retry after 7 s"),
        (503, TransientError, "retry after 7 s"),
        (500, TransientError, "retry after 7 s"),
        (401, FatalError, "credentials"),
        (403, FatalError, "RBAC"),
    ],
)
def test_answers_are_classified_by_status(
    server: FakeApiServer,
    driver: KubernetesDriver,
    scope: Scope,
    row: tuple[int, type[Exception], str],
) -> None:
    status, error, hint = row
    server.faults.fail_next(status, retry_after=7)
    with pytest.raises(error) as raised:
        driver.observe(scope)
    assert hint in raised.value.hint  # type: ignore[attr-defined]


def test_no_answer_at_all_is_transient_and_no_sdk_error_escapes(tmp_path: Path) -> None:
    stopped = FakeApiServer().start()
    url = stopped.url
    stopped.stop()
    configuration = k8s.Configuration()
    configuration.host = url
    configuration.retries = 0
    scope = Scope("acme", "prod", {"namespace": "x"})
    with k8s.ApiClient(configuration) as api, pytest.raises(TransientError, match="no answer"):
        KubernetesDriver(api, timeout=2).observe(scope)


def test_a_driver_is_built_from_a_kubeconfig(
    server: FakeApiServer, scope: Scope, tmp_path: Path
) -> None:
    path = write_kubeconfig(tmp_path / "config", server=server.url)
    driver = KubernetesDriver.from_kubeconfig(path)
    try:
        assert driver.observe(scope) == []
    finally:
        driver.close()


def test_an_unreadable_kubeconfig_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        KubernetesDriver.from_kubeconfig(tmp_path / "missing")


def test_an_environment_without_a_namespace_is_a_configuration_error(
    driver: KubernetesDriver,
) -> None:
    with pytest.raises(ConfigError, match="no Kubernetes namespace"):
        driver.observe(Scope("acme", "prod", {}))


def test_a_replace_deletes_and_recreates_an_object_whose_immutable_field_changed(
    driver: KubernetesDriver, scope: Scope, namespace: str
) -> None:
    before = scenario.deployment(OWNER, namespace, "web")
    create(driver, before)
    (old,) = driver.observe(scope)
    spec = dict(before.spec)
    selector = {"app.kubernetes.io/name": "web", "track": "v2"}
    template = {**spec["spec"]["template"], "metadata": {"labels": selector}}
    spec["spec"] = {**spec["spec"], "selector": {"matchLabels": selector}, "template": template}
    after = DesiredResource(before.ref, OWNER, spec, immutable=("spec.selector",))
    with pytest.raises(InvalidRequest, match="immutable"):
        driver.apply(Change(Action.UPDATE, after.ref, OWNER, desired=after, observed=old))
    replace = Change(Action.REPLACE, after.ref, OWNER, desired=after, observed=old)
    assert driver.apply(replace, dry_run=True).wrote
    assert driver.apply(replace).wrote
    (new,) = driver.observe(scope)
    assert new.external_id != old.external_id
    assert new.digest == after.digest


def test_a_claim_is_not_replaced_without_approval(driver: KubernetesDriver, scope: Scope) -> None:
    namespace = scope.site["namespace"]
    create(driver, scenario.pvc(OWNER, namespace, "data", size="2Gi"))
    (old,) = driver.observe(scope)
    smaller = scenario.pvc(OWNER, namespace, "data", size="1Gi")
    replace = Change(Action.REPLACE, old.ref, OWNER, desired=smaller, observed=old)
    with pytest.raises(InvalidRequest, match="only with approval"):
        driver.apply(replace)
    assert driver.observe(scope)[0].external_id == old.external_id


def test_a_dry_run_reads_no_secret_value(
    driver: KubernetesDriver, secrets: DictSecrets, scope: Scope
) -> None:
    desired = scenario.app(OWNER, scope.site["namespace"])[0]
    (change,) = plan_changes([desired], [])
    assert driver.apply(change, dry_run=True).wrote
    assert secrets.reads == []
    assert driver.observe(scope) == []


def test_a_quantity_the_server_rewrites_is_drift_until_the_planner_sends_the_canonical_form(
    driver: KubernetesDriver, scope: Scope
) -> None:
    namespace = scope.site["namespace"]
    loose, canonical = (scenario.pvc(OWNER, namespace, "data", size=s) for s in ("0.5Gi", "512Mi"))
    create(driver, loose)
    assert [c.action for c in plan_changes([loose], driver.observe(scope))] == [Action.UPDATE]
    assert plan_changes([canonical], driver.observe(scope)) == []


def test_a_label_someone_else_adds_is_not_ours_and_not_drift(
    driver: KubernetesDriver, api: k8s.ApiClient, scope: Scope, namespace: str
) -> None:
    desired = scenario.service(OWNER, namespace, "web")
    create(driver, desired)
    patch = {"metadata": {"labels": {"team": "payments"}, "annotations": {"note": "hi"}}}
    k8s.CoreV1Api(api).patch_namespaced_service(
        "web", namespace, patch, _content_type="application/merge-patch+json"
    )
    assert plan_changes([desired], driver.observe(scope)) == []


def test_the_driver_is_a_protocol_driver_for_kubernetes(driver: KubernetesDriver) -> None:
    assert isinstance(driver, Driver)
    assert driver.platform == "kubernetes"
