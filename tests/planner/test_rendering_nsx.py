"""NSX rendering: a segment, group and firewall policy per VM app, a load balancer when exposed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.errors import InvalidRequest
from core.resources import DesiredResource, Platform
from drivers.nsx import NsxDriver
from drivers.nsx.client import NsxSettings
from drivers.protocol import Scope
from planner.plans import plan_environment
from planner.rendering import render_environment
from simulators.nsx.simulator import NsxSimulator
from tests.conftest import free_port
from tests.planner.builders import app, example, view

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
    expose = {"host": "pay.example.com", "port": "http", "tls": tls, "vip": "192.0.2.7"}
    objects = nsx(app("pay", expose=expose, **VM))
    pool = objects["acme-prod-pay-pool"].spec
    assert pool["member_group"] == {
        "group_path": "/infra/domains/default/groups/acme-prod-pay-group",
        "port": "8080",
    }
    server = objects["acme-prod-pay-vs"]
    assert server.spec["pool_path"] == "/infra/lb-pools/acme-prod-pay-pool"
    assert server.spec["lb_service_path"] == "/infra/lb-services/acme-lb"
    assert server.spec["ports"] == (["443"] if tls else ["80"])
    assert server.spec["ip_address"] == "192.0.2.7"
    binding = server.spec.get("client_ssl_profile_binding")
    assert (binding is not None) is tls
    if binding:
        assert binding["default_certificate_path"] == "/infra/certificates/acme-prod-pay-tls"
    assert [str(ref) for ref in server.depends_on] == ["nsx:LBPool/acme-prod-pay-pool"]
    assert {ref.kind for ref in objects["acme-prod-pay-pool"].depends_on} == {
        "Group",
        "VirtualMachine",
    }


@pytest.fixture
def nsx_sim() -> Iterator[NsxSimulator]:
    sim = NsxSimulator(port=free_port()).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def nsx_driver(nsx_sim: NsxSimulator) -> Iterator[NsxDriver]:
    sim = nsx_sim
    settings = NsxSettings(
        url=sim.url, username=sim.username, password=sim.password, timeout_seconds=5.0,
        backoff_seconds=0.05, realization_timeout_seconds=10.0, poll_seconds=0.05,
    )  # fmt: skip
    driver = NsxDriver(settings)
    try:
        yield driver
    finally:
        driver.close()


def _import_certificate(url: str, *, auth: tuple[str, str], ident: str) -> None:
    """What the operator does before a TLS app is exposed: import its certificate into NSX."""
    body = {"pem_encoded": "-----BEGIN CERTIFICATE-----\n(test)\n-----END CERTIFICATE-----"}
    answer = httpx.patch(
        f"{url}/policy/api/v1/infra/certificates/{ident}", json=body, auth=auth, timeout=5.0
    )
    answer.raise_for_status()


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_every_example_nsx_object_applies_through_the_driver_and_plans_empty(
    nsx_driver: NsxDriver, nsx_sim: NsxSimulator, name: str
) -> None:
    loaded = example(name)
    changes = [c for c in plan_environment(loaded, []).changes if c.ref.platform is Platform.NSX]
    servers = [c for c in changes if c.ref.kind == "LBVirtualServer"]
    assert [c.ref.name for c in servers] == [f"acme-{name}-payments-vs"]
    _import_certificate(
        nsx_sim.url, auth=(nsx_sim.username, nsx_sim.password), ident=f"acme-{name}-payments-tls"
    )
    for change in changes:
        nsx_driver.apply(change)
    observed = nsx_driver.observe(Scope("acme", name, {}))
    [server] = [o for o in observed if o.ref == servers[0].ref]
    assert server.spec["ip_address"] == ("192.0.2.10" if name == "prod" else "192.0.2.20")
    again = plan_environment(loaded, observed)
    assert [c.ref for c in again.changes if c.ref.platform is Platform.NSX] == []


def test_a_virtual_server_whose_certificate_was_not_imported_is_refused(
    nsx_driver: NsxDriver,
) -> None:
    prod = example("prod")
    changes = [c for c in plan_environment(prod, []).changes if c.ref.platform is Platform.NSX]
    for change in changes[:-1]:
        nsx_driver.apply(change)
    assert changes[-1].ref.kind == "LBVirtualServer"
    with pytest.raises(InvalidRequest, match="acme-prod-payments-tls"):
        nsx_driver.apply(changes[-1])
