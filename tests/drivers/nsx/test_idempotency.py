"""Property (bar R2): any generated spec applied through the fake NSX observes back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.resources import DesiredResource, OwnerKey, Platform, ResourceRef
from drivers.nsx import NsxDriver
from drivers.protocol import Scope
from tests.drivers.nsx.conftest import fresh_scope
from tests.drivers.nsx.scenario import TIER1, TRANSPORT_ZONE, plan

MakeDriver = Callable[..., NsxDriver]
words = st.text(alphabet="abcdefghij -", min_size=1, max_size=12)
octets = st.integers(min_value=1, max_value=250)


@st.composite
def segments(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "connectivity_path": TIER1,
        "transport_zone_path": TRANSPORT_ZONE,
        "subnets": [{"gateway_address": f"10.9.{draw(octets)}.1/24"}],
    }
    if draw(st.booleans()):
        spec["description"] = draw(words)
    if draw(st.booleans()):
        spec["admin_state"] = "DOWN"  # UP is NSX's default and is left out, as documented
    return spec


@st.composite
def pools(draw: st.DrawFn) -> dict[str, Any]:
    members = []
    for index in range(draw(st.integers(min_value=0, max_value=3))):
        member: dict[str, Any] = {"display_name": f"m{index}", "ip_address": f"10.8.0.{index + 1}"}
        if draw(st.booleans()):
            member["weight"] = draw(st.integers(min_value=2, max_value=9))
        if draw(st.booleans()):
            member["admin_state"] = "DISABLED"
        members.append(member)
    spec: dict[str, Any] = {"members": members}
    algorithm = draw(st.sampled_from([None, "LEAST_CONNECTION", "IP_HASH"]))
    if algorithm:
        spec["algorithm"] = algorithm
    return spec


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=0, max_value=3))
    rules = [
        {
            "resource_type": "Rule",
            "id": f"r{index}",
            "display_name": f"r{index}",
            "action": draw(st.sampled_from(["ALLOW", "DROP", "REJECT"])),
            "source_groups": ["ANY"],
            "destination_groups": ["ANY"],
            "services": [draw(st.sampled_from(["/infra/services/HTTPS", "/infra/services/SSH"]))],
            "sequence_number": 10 * (index + 1),
            **({"logged": True} if draw(st.booleans()) else {}),
            **({"direction": "IN"} if draw(st.booleans()) else {}),
        }
        for index in range(count)
    ]
    return {"category": draw(st.sampled_from(["Application", "Environment"])), "rules": rules}


def desired_of(kind: str, fields: dict[str, Any], extra_tag: str) -> DesiredResource:
    scope = fresh_scope()
    owner = OwnerKey(scope.tenant, scope.environment, "gen", kind.lower())
    name = f"rxt-{scope.environment}-{kind.lower()}"
    tags = sorted(
        [{"scope": "rxt.owner", "tag": str(owner)}, {"scope": "team", "tag": extra_tag}],
        key=lambda t: (t["scope"], t["tag"]),
    )
    spec = {"resource_type": kind, "id": name, "display_name": name, **fields, "tags": tags}
    domain = "default" if kind == "SecurityPolicy" else ""
    return DesiredResource(ResourceRef(Platform.NSX, kind, name, domain), owner, spec)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind_and_fields=st.one_of(
        st.tuples(st.just("Segment"), segments()),
        st.tuples(st.just("LBPool"), pools()),
        st.tuples(st.just("SecurityPolicy"), policies()),
    ),
    extra_tag=words,
)
def test_a_second_plan_after_apply_is_always_empty(
    make_driver: MakeDriver, kind_and_fields: tuple[str, dict[str, Any]], extra_tag: str
) -> None:
    desired = desired_of(*kind_and_fields, extra_tag=extra_tag)
    driver = make_driver()
    scope = Scope(desired.owner.tenant, desired.owner.environment)
    first = plan([desired], driver.observe(scope))
    assert [change.ref for change in first] == [desired.ref]
    driver.apply_many(first)
    assert plan([desired], driver.observe(scope)) == []
    assert not any(applied.wrote for applied in driver.apply_many(first))
    driver.apply_many(plan([], driver.observe(scope)))
