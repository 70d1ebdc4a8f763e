"""Kubernetes rendering follows docs/resource-specs.md: markers, names, HPA, TLS, secrets."""

from __future__ import annotations

from typing import Any

import pytest

from core.resources import DesiredResource, Platform, SecretRef
from planner.fields import get_path
from planner.rendering import render_environment
from planner.rendering.k8s_objects import bytes_text, cpu_text
from tests.planner.builders import app, view

SECRET = {"secretRef": {"path": "shop/db", "key": "password"}}


def by_kind(resources: list[DesiredResource], kind: str, name: str) -> DesiredResource:
    return next(r for r in resources if r.ref.kind == kind and r.ref.name == name)


def test_every_object_carries_the_markers_and_its_owner_key() -> None:
    resources = render_environment(view(app("web", env={"DB_PASSWORD": SECRET})))
    assert resources
    assert all(r.ref.platform is Platform.KUBERNETES for r in resources)
    for item in resources:
        meta = item.spec["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "rxt-deploy"
        assert meta["labels"]["deploy.rxt.io/environment"] == "prod"
        assert meta["annotations"]["deploy.rxt.io/owner"] == str(item.owner)
        assert item.ref.scope == ("" if item.ref.kind == "Namespace" else "acme-prod")
        assert meta["name"] == item.ref.name


def test_names_and_digests_are_the_same_on_every_render() -> None:
    first = render_environment(view(app("web"), app("api")))
    second = render_environment(view(app("api"), app("web")))
    assert [(r.ref, r.digest) for r in first] == [(r.ref, r.digest) for r in second]


def test_autoscale_renders_an_hpa_and_leaves_replicas_to_it() -> None:
    resources = render_environment(
        view(app("web", autoscale={"min": 2, "max": 5, "cpuPercent": 60}))
    )
    deployment = by_kind(resources, "Deployment", "web")
    assert "replicas" not in deployment.spec["spec"]
    hpa = by_kind(resources, "HorizontalPodAutoscaler", "web").spec["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60


def test_without_autoscale_the_deployment_holds_the_replica_count() -> None:
    deployment = by_kind(render_environment(view(app("web", replicas=4))), "Deployment", "web")
    assert deployment.spec["spec"]["replicas"] == 4
    assert not any(
        r.ref.kind == "HorizontalPodAutoscaler" for r in render_environment(view(app("web")))
    )


@pytest.mark.parametrize("tls", [True, False])
def test_an_exposed_app_gets_an_ingress_with_tls_only_when_asked(tls: bool) -> None:
    expose = {"host": "shop.example.com", "port": "http", "tls": tls}
    ingress = by_kind(render_environment(view(app("web", expose=expose))), "Ingress", "web").spec
    assert ingress["spec"]["rules"][0]["host"] == "shop.example.com"
    assert ("tls" in ingress["spec"]) is tls


def test_a_secret_holds_references_and_versions_never_values() -> None:
    web = app(
        "web",
        env={"DB_PASSWORD": SECRET, "API_KEY": {"secretRef": {"path": "shop/api", "key": "k"}}},
    )
    resources = render_environment(view(web))
    secret = by_kind(resources, "Secret", "web-secrets")
    assert "data" not in secret.spec
    assert "stringData" not in secret.spec
    notes = secret.spec["metadata"]["annotations"]
    assert notes["deploy.rxt.io/secret-refs"] == "shop/api#k,shop/db#password"
    assert notes["deploy.rxt.io/secret-versions"] == "unknown"
    assert notes["deploy.rxt.io/secret-env"] == "API_KEY=shop/api#k,DB_PASSWORD=shop/db#password"
    assert [str(ref) for ref in secret.secrets] == ["shop/api#k", "shop/db#password"]
    env = by_kind(resources, "Deployment", "web").spec["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "web-secrets", "key": "DB_PASSWORD"}},
    } in env


def test_a_rotated_secret_changes_the_pod_template_so_pods_roll() -> None:
    web = view(app("web", env={"DB_PASSWORD": SECRET}))
    ref = SecretRef("shop/db", "password")
    first = render_environment(web, secret_versions={ref: 1})
    second = render_environment(web, secret_versions={ref: 2})
    path = "spec.template.metadata.annotations"
    before = get_path(by_kind(first, "Deployment", "web").spec, path)
    after = get_path(by_kind(second, "Deployment", "web").spec, path)
    assert before != after
    assert before["deploy.rxt.io/secret-versions"].startswith("sha256:")
    assert by_kind(second, "Secret", "web-secrets").secrets[0].version == 2


def test_network_renders_a_policy_from_allow_from_and_egress() -> None:
    api = app("api", network={"allowFrom": ["web"], "egress": ["10.20.0.0/16:5432", "10.9.9.9"]})
    resources = render_environment(view(api, app("web")))
    policy = by_kind(resources, "NetworkPolicy", "api").spec["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"deploy.rxt.io/app": "web"}}}
    ]
    cidrs = [rule["to"][0]["ipBlock"]["cidr"] for rule in policy["egress"] if "to" in rule]
    assert cidrs == ["10.20.0.0/16", "10.9.9.9/32"]
    web_policy = [r for r in resources if r.ref.kind == "NetworkPolicy" and r.ref.name == "web"]
    assert web_policy == [], "an app without network rules gets no policy"


def test_each_volume_becomes_a_claim_mounted_by_the_deployment() -> None:
    volumes = [{"name": "data", "size": "1.5Gi", "mountPath": "/data"}]
    resources = render_environment(
        view(app("db", placement={"target": "kubernetes"}, volumes=volumes))
    )
    claim = by_kind(resources, "PersistentVolumeClaim", "db-data")
    assert claim.spec["spec"]["resources"]["requests"]["storage"] == "1536Mi"
    pod = by_kind(resources, "Deployment", "db").spec["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}}]


def test_the_deployment_comes_after_what_it_uses() -> None:
    resources = render_environment(view(app("web", env={"X_TOKEN": SECRET})))
    deployment = by_kind(resources, "Deployment", "web")
    kinds = {ref.kind for ref in deployment.depends_on}
    assert kinds == {"Namespace", "Secret"}


QUANTITIES: list[tuple[Any, str, str]] = [
    (cpu_text, "0.5", "500m"),
    (cpu_text, "2", "2"),
    (cpu_text, "2000m", "2"),
    (bytes_text, "1024Mi", "1Gi"),
    (bytes_text, "1G", "1G"),
    (bytes_text, "1536Mi", "1536Mi"),
]


@pytest.mark.parametrize(("convert", "given", "printed"), QUANTITIES)
def test_quantities_are_written_the_way_the_api_server_prints_them(
    convert: Any, given: str, printed: str
) -> None:
    assert convert(given) == printed
