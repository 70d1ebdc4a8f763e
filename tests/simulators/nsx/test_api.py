"""The fake NSX answers the Policy API the way NSX Manager does, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulators.nsx import TRANSPORT_ZONE, NsxSimulator

SEGMENT = {
    "connectivity_path": "/infra/tier-1s/acme-t1",
    "transport_zone_path": TRANSPORT_ZONE,
    "subnets": [{"gateway_address": "10.1.0.1/24"}],
}
SERVER_FILLED = {
    "_create_time",
    "_create_user",
    "_last_modified_time",
    "_last_modified_user",
    "_system_owned",
    "_protection",
    "_revision",
    "path",
    "parent_path",
    "relative_path",
    "unique_id",
    "realization_id",
    "marked_for_delete",
    "overridden",
}


def infra(*children: dict[str, Any]) -> dict[str, Any]:
    return {"resource_type": "Infra", "children": list(children)}


def child(kind: str, **body: Any) -> dict[str, Any]:
    return {
        "resource_type": f"Child{kind}",
        kind: {"resource_type": kind, **body},
    }


def in_domain(*children: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource_type": "ChildResourceReference",
        "id": "default",
        "target_type": "Domain",
        "children": list(children),
    }


def error_of(answer: httpx.Response) -> tuple[int, int]:
    body = answer.json()
    assert set(body) == {"httpStatus", "error_code", "module_name", "error_message"}
    return answer.status_code, body["error_code"]


def test_a_hierarchical_patch_creates_nested_objects_with_server_fields(
    api: httpx.Client,
) -> None:
    rule = {
        "id": "r1",
        "action": "ALLOW",
        "source_groups": ["ANY"],
        "destination_groups": ["/infra/domains/default/groups/web"],
        "services": ["/infra/services/HTTPS"],
    }
    body = infra(
        child("Segment", id="net", **SEGMENT),
        in_domain(
            child(
                "Group",
                id="web",
                expression=[{"resource_type": "PathExpression", "paths": ["/infra/segments/net"]}],
            ),
            child(
                "SecurityPolicy", id="fw", category="Application", children=[child("Rule", **rule)]
            ),
        ),
    )
    assert api.patch("/infra", json=body).status_code == 200
    segment = api.get("/infra/segments/net").json()
    assert set(segment) >= SERVER_FILLED
    assert segment["_revision"] == 0
    assert (segment["admin_state"], segment["replication_mode"]) == ("UP", "MTEP")
    assert segment["subnets"][0]["network"] == "10.1.0.0/24"
    policy = api.get("/infra/domains/default/security-policies/fw").json()
    (read_rule,) = policy["rules"]
    assert (read_rule["direction"], read_rule["ip_protocol"], read_rule["logged"]) == (
        "IN_OUT",
        "IPV4_IPV6",
        False,
    )
    group = api.get("/infra/domains/default/groups/web").json()
    assert group["expression"][0]["id"]
    assert api.get("/infra/domains/default").json()["_revision"] == 0  # reference: untouched


def test_a_hierarchical_patch_is_all_or_nothing(api: httpx.Client, sim: NsxSimulator) -> None:
    body = infra(
        child("Segment", id="good", **SEGMENT),
        child("Segment", id="bad", connectivity_path="/infra/tier-1s/missing"),
    )
    assert error_of(api.patch("/infra", json=body)) == (400, 500012)
    assert sim.paths("/infra/segments/") == []


def test_marked_for_delete_cascades_and_hides_the_object(
    api: httpx.Client, sim: NsxSimulator
) -> None:
    sim.store.delete_ticks = 100
    rule = {
        "id": "r1",
        "action": "DROP",
        "source_groups": ["ANY"],
        "destination_groups": ["ANY"],
        "services": ["ANY"],
    }
    api.patch("/infra", json=infra(in_domain(child("SecurityPolicy", id="fw", rules=[rule]))))
    gone = {
        "resource_type": "ChildSecurityPolicy",
        "marked_for_delete": True,
        "SecurityPolicy": {"resource_type": "SecurityPolicy", "id": "fw"},
    }
    assert api.patch("/infra", json=infra(in_domain(gone))).status_code == 200
    assert api.get("/infra/domains/default/security-policies/fw").status_code == 404
    assert api.get("/infra/domains/default/security-policies/fw/rules/r1").status_code == 404
    listed = api.get(
        "/infra/domains/default/security-policies",
        params={"include_mark_for_delete_objects": "true"},
    ).json()
    assert [item["marked_for_delete"] for item in listed["results"]] == [True]


@pytest.mark.parametrize(
    ("method", "revision", "status"),
    [("PUT", None, 412), ("PUT", 5, 412), ("PUT", 0, 200), ("PATCH", 5, 412), ("PATCH", None, 200)],
)
def test_revisions_guard_replaces_and_stale_patches(
    api: httpx.Client, method: str, revision: int | None, status: int
) -> None:
    api.patch("/infra/segments/net", json=SEGMENT)
    body = {**SEGMENT, "description": "new"}
    if revision is not None:
        body["_revision"] = revision
    answer = api.request(method, "/infra/segments/net", json=body)
    assert answer.status_code == status
    if status == 412:
        assert error_of(answer) == (412, 604)
        assert answer.json()["httpStatus"] == "PRECONDITION_FAILED"
    else:
        assert api.get("/infra/segments/net").json()["_revision"] == 1


def test_enforce_revision_check_makes_hierarchical_revisions_count(api: httpx.Client) -> None:
    api.patch("/infra/segments/net", json=SEGMENT)
    stale = infra(child("Segment", id="net", _revision=9, description="x"))
    assert api.patch("/infra", json=stale).status_code == 200  # ignored without the flag
    answer = api.patch("/infra", json=stale, params={"enforce_revision_check": "true"})
    assert error_of(answer) == (412, 604)


def test_patch_merges_fields_but_put_replaces_them(api: httpx.Client) -> None:
    api.patch("/infra/segments/net", json={**SEGMENT, "description": "kept"})
    api.patch("/infra/segments/net", json={"display_name": "renamed"})
    assert api.get("/infra/segments/net").json()["description"] == "kept"
    api.put("/infra/segments/net", json={**SEGMENT, "_revision": 1})
    assert "description" not in api.get("/infra/segments/net").json()


def test_a_missing_reference_is_a_validation_error(api: httpx.Client) -> None:
    answer = api.patch("/infra/segments/net", json={"connectivity_path": "/infra/tier-1s/nope"})
    assert error_of(answer) == (400, 500012)
    assert "/infra/tier-1s/nope" in answer.json()["error_message"]


def test_deleting_a_referenced_object_is_refused(api: httpx.Client, sim: NsxSimulator) -> None:
    api.patch("/infra/segments/net", json=SEGMENT)
    sim.pin("/infra/segments/net", by="/infra/segments/net/ports/vm-1")
    assert error_of(api.delete("/infra/segments/net")) == (400, 500030)
    assert sim.paths("/infra/segments/") == ["/infra/segments/net"]


def test_recreating_during_a_pending_delete_is_refused_until_purged(
    api: httpx.Client, sim: NsxSimulator
) -> None:
    api.patch("/infra/segments/net", json=SEGMENT)
    api.delete("/infra/segments/net")
    assert error_of(api.patch("/infra/segments/net", json=SEGMENT)) == (400, 500045)
    for _ in range(sim.store.delete_ticks):
        api.get("/infra/segments")
    assert api.patch("/infra/segments/net", json=SEGMENT).status_code == 200


def test_lists_page_with_a_cursor(api: httpx.Client) -> None:
    for index in range(7):
        api.patch(f"/infra/segments/s{index}", json=SEGMENT)
    seen: list[str] = []
    params: dict[str, str] = {}
    while True:
        page = api.get("/infra/segments", params=params).json()
        assert page["result_count"] == 7
        seen += [item["id"] for item in page["results"]]
        if "cursor" not in page:
            break
        params = {"cursor": page["cursor"]}
    assert seen == [f"s{index}" for index in range(7)]


def test_realization_takes_polls_and_can_report_error(api: httpx.Client, sim: NsxSimulator) -> None:
    sim.set_realization(polls=2)
    api.patch("/infra/segments/net", json=SEGMENT)
    api.patch("/infra/segments/bad", json=SEGMENT)
    sim.fail_realization("/infra/segments/bad", "no edge")
    where = "/infra/realized-state/realized-entities"
    states = [
        api.get(where, params={"intent_path": "/infra/segments/net"}).json()["results"][0]["state"]
        for _ in range(3)
    ]
    assert states == ["IN_PROGRESS", "IN_PROGRESS", "REALIZED"]
    bad = api.get(where, params={"intent_path": "/infra/segments/bad"}).json()["results"][0]
    assert (bad["state"], bad["alarms"][0]["message"]) == ("ERROR", "no edge")
    status = api.get("/infra/realized-state/status", params={"intent_path": "/infra/segments/bad"})
    assert status.json()["consolidated_status"]["consolidated_status"] == "ERROR"


@pytest.mark.parametrize(("status", "retry_after"), [(429, 2), (503, 5), (503, None)])
def test_injected_overload_answers_carry_retry_after(
    api: httpx.Client, sim: NsxSimulator, status: int, retry_after: int | None
) -> None:
    sim.inject(status, times=1, retry_after=retry_after)
    answer = api.get("/infra/segments")
    assert answer.status_code == status
    assert answer.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert api.get("/infra/segments").status_code == 200


def test_requests_are_counted_by_method_and_path(api: httpx.Client, sim: NsxSimulator) -> None:
    api.get("/infra/segments", params={"cursor": "0"})
    api.get("/infra/segments")
    api.patch("/infra/segments/net", json=SEGMENT)
    assert sim.requests[("GET", "/policy/api/v1/infra/segments")] == 2
    assert sim.calls("PATCH") == 1


@pytest.mark.parametrize(
    "path",
    ["/infra/tier-1s/acme-t1", "/infra/lb-services/acme-lb", "/infra/services/HTTPS"],
)
def test_platform_owned_objects_are_seeded_and_read_only(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 200
    assert api.patch(path, json={"description": "x"}).status_code == 403


def test_the_url_id_must_match_the_body_id(api: httpx.Client) -> None:
    assert error_of(api.patch("/infra/segments/a", json={"id": "b"})) == (400, 500012)


def test_certificates_never_return_their_private_key(api: httpx.Client) -> None:
    body = {"pem_encoded": "-----BEGIN CERTIFICATE-----", "private_key": "secret-key"}
    assert api.patch("/infra/certificates/c1", json=body).status_code == 200
    read = api.get("/infra/certificates/c1").json()
    assert read["pem_encoded"] == body["pem_encoded"]
    assert "private_key" not in read


def test_rules_have_their_own_endpoints_under_an_existing_policy(api: httpx.Client) -> None:
    rule = {
        "action": "ALLOW",
        "source_groups": ["ANY"],
        "destination_groups": ["ANY"],
        "services": ["/infra/services/SSH"],
    }
    policy = "/infra/domains/default/security-policies/fw"
    assert error_of(api.patch(f"{policy}/rules/r1", json=rule)) == (400, 500012)
    api.patch(policy, json={"category": "Application"})
    assert api.patch(f"{policy}/rules/r1", json=rule).status_code == 200
    assert api.get(f"{policy}/rules/r1").json()["parent_path"] == policy
    assert [r["id"] for r in api.get(f"{policy}/rules").json()["results"]] == ["r1"]
    bad = api.patch(f"{policy}/rules/r2", json={**rule, "action": "MAYBE"})
    assert error_of(bad) == (400, 500012)
    assert api.delete(f"{policy}/rules/r1").status_code == 200
    assert api.get(policy).json()["rules"] == []
