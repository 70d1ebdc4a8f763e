"""The hierarchical PATCH the driver sends has the documented shape, captured on the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.nsx import NsxDriver
from drivers.protocol import Scope
from simulators.nsx import NsxSimulator
from tests.drivers.contract import deletes_of, plan_changes
from tests.drivers.nsx.scenario import app_ids, render

MakeDriver = Callable[..., NsxDriver]


def shape(children: list[dict[str, Any]]) -> list[Any]:
    """Wrapper types and ids, nested, with the delete marks."""
    out: list[Any] = []
    for child in children:
        wrapper = child["resource_type"]
        if wrapper == "ChildResourceReference":
            out.append((wrapper, child["target_type"], child["id"], shape(child["children"])))
            continue
        inner = child[wrapper[len("Child") :]]
        out.append((wrapper, inner["id"], bool(child.get("marked_for_delete"))))
    return out


def test_a_create_is_one_infra_patch_with_domain_objects_under_a_reference(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    ids = app_ids(scope, "shop")
    make_driver().apply_many(plan_changes(render(scope, "shop"), []))
    ((method, path, body),) = sim.writes()
    assert (method, path) == ("PATCH", "/policy/api/v1/infra")
    assert body["resource_type"] == "Infra"
    assert shape(body["children"]) == [
        ("ChildSegment", ids["net"], False),
        ("ChildLBPool", ids["pool"], False),
        ("ChildLBVirtualServer", ids["vs"], False),
        (
            "ChildResourceReference",
            "Domain",
            "default",
            [
                ("ChildGroup", ids["web"], False),
                ("ChildSecurityPolicy", ids["fw"], False),
            ],
        ),
    ]
    segment = body["children"][0]["Segment"]
    assert {"scope": "rxt.owner", "tag": f"acme/{scope.environment}/shop/net"} in segment["tags"]
    assert "_revision" not in segment


def test_an_update_carries_the_revision_and_a_delete_only_marks(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    make_driver().apply_many(plan_changes(render(scope, "shop"), []))
    changed = render(scope, "shop", changed=True)
    make_driver().apply_many(plan_changes(changed, make_driver().observe(scope)))
    make_driver().apply_many(deletes_of(make_driver().observe(scope)))
    _, update, delete = sim.writes()
    policy = update[2]["children"][-1]["children"][0]["SecurityPolicy"]
    assert policy["_revision"] == 0
    assert [rule["id"] for rule in policy["rules"]] == ["allow-https", "allow-ssh"]
    for child in delete[2]["children"][:3]:
        inner = child[child["resource_type"][len("Child") :]]
        assert child["marked_for_delete"] is True
        assert set(inner) == {"resource_type", "id", "marked_for_delete"}
