"""Every known way the fake NSX differs from NSX Manager, one check each.

If a change to the fake makes one of these fail, the difference moved: update the table here and
in docs/simulators/nsx.md together.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from simulators.nsx import TRANSPORT_ZONE, NsxSimulator

SEGMENT = {"connectivity_path": "/infra/tier-1s/acme-t1", "transport_zone_path": TRANSPORT_ZONE}


def plain_http_not_https(api: httpx.Client, sim: NsxSimulator) -> None:
    assert sim.url.startswith("http://127.0.0.1:")


def only_a_subset_of_object_types(api: httpx.Client, sim: NsxSimulator) -> None:
    assert api.get("/infra/tier-0s").status_code == 404
    assert api.get("/infra/segments/x/ports").status_code == 404


def platform_objects_are_read_only(api: httpx.Client, sim: NsxSimulator) -> None:
    answer = api.patch("/infra/tier-1s/new-t1", json={})
    assert (answer.status_code, answer.json()["error_code"]) == (403, 500090)


def security_policies_are_listed_without_rules(api: httpx.Client, sim: NsxSimulator) -> None:
    rule = {
        "id": "r",
        "action": "ALLOW",
        "source_groups": ["ANY"],
        "destination_groups": ["ANY"],
        "services": ["ANY"],
    }
    api.patch("/infra/domains/default/security-policies/p", json={"rules": [rule]})
    listed = api.get("/infra/domains/default/security-policies").json()["results"][0]
    assert "rules" not in listed
    assert listed["rule_count"] == 1


def realization_counts_polls_not_work(api: httpx.Client, sim: NsxSimulator) -> None:
    sim.set_realization(polls=1)
    api.patch("/infra/segments/s", json=SEGMENT)
    where = "/infra/realized-state/realized-entities"
    states = [
        api.get(where, params={"intent_path": "/infra/segments/s"}).json()["results"][0]["state"]
        for _ in range(2)
    ]
    assert states == ["IN_PROGRESS", "REALIZED"]


def deletes_purge_after_requests_not_realization(api: httpx.Client, sim: NsxSimulator) -> None:
    api.patch("/infra/segments/s", json=SEGMENT)
    api.delete("/infra/segments/s")
    for _ in range(sim.store.delete_ticks):
        api.get("/infra/tier-1s")
    assert sim.store.records.get("/infra/segments/s") is None


def every_write_bumps_the_revision(api: httpx.Client, sim: NsxSimulator) -> None:
    # Assumed to match NSX; unverified against a real manager.
    api.patch("/infra/segments/s", json=SEGMENT)
    api.patch("/infra/segments/s", json=SEGMENT)
    assert sim.revision("/infra/segments/s") == 1


def validation_errors_share_one_error_code(api: httpx.Client, sim: NsxSimulator) -> None:
    missing = api.patch("/infra/segments/s", json={"connectivity_path": "/infra/tier-1s/x"})
    wrong_id = api.patch("/infra/segments/s", json={"id": "t"})
    assert {missing.json()["error_code"], wrong_id.json()["error_code"]} == {500012}


def hierarchical_get_is_a_stub(api: httpx.Client, sim: NsxSimulator) -> None:
    api.patch("/infra/segments/s", json=SEGMENT)
    assert "children" not in api.get("/infra", params={"filter": "Type-Segment"}).json()


def no_search_api(api: httpx.Client, sim: NsxSimulator) -> None:
    assert api.get("/search/query", params={"query": "resource_type:Segment"}).status_code == 404


def group_membership_is_not_computed(api: httpx.Client, sim: NsxSimulator) -> None:
    api.patch("/infra/domains/default/groups/g", json={"expression": []})
    members = api.get("/infra/domains/default/groups/g/members/virtual-machines")
    assert members.status_code == 404


def cursors_are_plain_offsets(api: httpx.Client, sim: NsxSimulator) -> None:
    for index in range(4):
        api.patch(f"/infra/segments/s{index}", json=SEGMENT)
    assert api.get("/infra/segments").json()["cursor"] == "3"


def segments_have_no_ports_only_pins(api: httpx.Client, sim: NsxSimulator) -> None:
    api.patch("/infra/segments/s", json=SEGMENT)
    assert api.delete("/infra/segments/s").status_code == 200  # no VM is ever attached


def overload_only_when_injected(api: httpx.Client, sim: NsxSimulator) -> None:
    answers = {api.get("/infra/segments").status_code for _ in range(30)}
    assert answers == {200}


def sessions_never_time_out_by_themselves(api: httpx.Client, sim: NsxSimulator) -> None:
    with httpx.Client(base_url=sim.url) as client:
        form = {"j_username": sim.username, "j_password": sim.password}
        client.post("/api/session/create", data=form)
        assert client.get("/policy/api/v1/infra/segments").status_code == 200
        assert sim.api.sessions  # only expire_sessions() ends them


def no_multi_tenant_projects(api: httpx.Client, sim: NsxSimulator) -> None:
    answer = httpx.get(
        f"{sim.url}/policy/api/v1/orgs/default/projects/p/infra/segments",
        auth=(sim.username, sim.password),
    )
    assert answer.status_code == 404


DIFFERENCES: list[Callable[[httpx.Client, NsxSimulator], None]] = [
    plain_http_not_https,
    only_a_subset_of_object_types,
    platform_objects_are_read_only,
    security_policies_are_listed_without_rules,
    realization_counts_polls_not_work,
    deletes_purge_after_requests_not_realization,
    every_write_bumps_the_revision,
    validation_errors_share_one_error_code,
    hierarchical_get_is_a_stub,
    no_search_api,
    group_membership_is_not_computed,
    cursors_are_plain_offsets,
    segments_have_no_ports_only_pins,
    overload_only_when_injected,
    sessions_never_time_out_by_themselves,
    no_multi_tenant_projects,
]


@pytest.mark.parametrize("difference", DIFFERENCES, ids=lambda check: check.__name__)
def test_the_fake_differs_from_nsx_manager_as_documented(
    difference: Callable[[httpx.Client, NsxSimulator], None],
    api: httpx.Client,
    sim: NsxSimulator,
) -> None:
    difference(api, sim)
