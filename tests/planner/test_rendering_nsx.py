"""NSX rendering: a segment, group and firewall policy per VM app, a load balancer when exposed."""

from __future__ import annotations

from typing import Any

import pytest

from core.resources import DesiredResource, Platform
from planner.rendering import render_environment
from tests.planner.builders import app, view

VM = {"placement": {"target": "vm"}}


def nsx(*apps: Any) -> dict[str, DesiredResource]:
    return {
        r.ref.name: r for r in render_environment(view(*apps)) if r.ref.platform is Platform.NSX
    }


def test_a_vm_app_gets_a_segment_and_a_group_of_its_vms() -> None:
    objects = nsx(app("db", replicas=2, **VM))
    segment = objects["acme-prod-db-segment"]
    assert segment.spec["connectivity_path"] == "/infra/tier-1s/acme-t1"
    assert segment.spec["tags"] == [{"scope": "rxt.owner", "tag": "acme/prod/db/segment"}]
    group = objects["acme-prod-db-group"]
    assert group.ref.scope == "default"
    values = [e["value"] for e in group.spec["expression"] if e["resource_type"] == "Condition"]
    assert values == ["acme-prod-db-0", "acme-prod-db-1"]


def test_apps_on_kubernetes_render_no_nsx_objects() -> None:
    assert nsx(app("web")) == {}


def test_the_firewall_policy_follows_network() -> None:
    db = app("db", network={"allowFrom": ["pay", "web"], "egress": ["10.0.0.0/8:443"]}, **VM)
    objects = nsx(db, app("pay", **VM), app("web"))
    rules = {r["id"]: r for r in objects["acme-prod-db-policy"].spec["rules"]}
    assert list(rules) == ["allow-from-pay", "allow-egress-0", "deny-in", "deny-out"]
    assert rules["allow-from-pay"]["source_groups"] == [
        "/infra/domains/default/groups/acme-prod-pay-group"
    ]
    assert rules["allow-from-pay"]["service_entries"][0]["destination_ports"] == ["8080"]
    assert rules["allow-egress-0"]["destination_groups"] == ["10.0.0.0/8"]
    assert (rules["deny-in"]["action"], rules["deny-out"]["direction"]) == ("DROP", "OUT")
    assert [r["sequence_number"] for r in rules.values()] == [10, 20, 30, 40]
    pay_rules = [r["id"] for r in objects["acme-prod-pay-policy"].spec["rules"]]
    assert pay_rules == ["allow-to-db"], "the peer may reach db"


def test_an_app_without_network_rules_or_exposure_gets_no_policy() -> None:
    assert "acme-prod-db-policy" not in nsx(app("db", **VM))


@pytest.mark.parametrize("tls", [True, False])
def test_exposure_renders_a_pool_and_virtual_server_with_a_certificate_only_for_tls(
    tls: bool,
) -> None:
    objects = nsx(app("pay", expose={"host": "pay.example.com", "port": "http", "tls": tls}, **VM))
    pool = objects["acme-prod-pay-pool"].spec
    assert pool["member_group"] == {
        "group_path": "/infra/domains/default/groups/acme-prod-pay-group",
        "port": "8080",
    }
    server = objects["acme-prod-pay-vs"]
    assert server.spec["pool_path"] == "/infra/lb-pools/acme-prod-pay-pool"
    assert server.spec["lb_service_path"] == "/infra/lb-services/acme-lb"
    assert server.spec["ports"] == (["443"] if tls else ["80"])
    binding = server.spec.get("client_ssl_profile_binding")
    assert (binding is not None) is tls
    if binding:
        assert binding["default_certificate_path"] == "/infra/certificates/acme-prod-pay-tls"
    assert [str(ref) for ref in server.depends_on] == ["nsx:LBPool/acme-prod-pay-pool"]
    assert {ref.kind for ref in objects["acme-prod-pay-pool"].depends_on} == {
        "Group",
        "VirtualMachine",
    }
