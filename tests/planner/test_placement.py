"""The placement matrix, one row per rule and per conflict, and the Rego constraints after it."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ManifestError
from planner.placement import RULES, Target, explain, place_application, place_environment
from planner.plans import plan_environment
from tests.planner.builders import SITES, app, environment, view

VOLUME = [{"name": "data", "size": "10Gi", "mountPath": "/data"}]

MATRIX: list[tuple[str, dict[str, Any], Target, str]] = [
    ("explicit vm", {"placement": {"target": "vm"}}, Target.VM, "explicit-target"),
    (
        "explicit kubernetes",
        {"placement": {"target": "kubernetes"}},
        Target.KUBERNETES,
        "explicit-target",
    ),
    (
        "explicit vm beside pci-dss",
        {"placement": {"target": "vm", "compliance": ["pci-dss"]}},
        Target.VM,
        "explicit-target",
    ),
    (
        "explicit kubernetes with volumes",
        {"placement": {"target": "kubernetes"}, "volumes": VOLUME},
        Target.KUBERNETES,
        "explicit-target",
    ),
    ("pci-dss", {"placement": {"compliance": ["pci-dss"]}}, Target.VM, "compliance-requires-vm"),
    ("hipaa", {"placement": {"compliance": ["hipaa"]}}, Target.VM, "compliance-requires-vm"),
    (
        "soc2 alone",
        {"placement": {"compliance": ["soc2"]}},
        Target.KUBERNETES,
        "default-kubernetes",
    ),
    ("stateful", {"placement": {"stateful": True}}, Target.VM, "stateful-requires-vm"),
    ("volumes", {"volumes": VOLUME}, Target.VM, "stateful-requires-vm"),
    (
        "pci-dss and volumes",
        {"placement": {"compliance": ["pci-dss"]}, "volumes": VOLUME},
        Target.VM,
        "compliance-requires-vm",
    ),
    ("nothing special", {}, Target.KUBERNETES, "default-kubernetes"),
]


@pytest.mark.parametrize(("case", "spec", "target", "rule"), MATRIX, ids=[row[0] for row in MATRIX])
def test_the_first_deciding_rule_places_the_app(
    case: str, spec: dict[str, Any], target: Target, rule: str
) -> None:
    placed = place_application(app("svc", **spec))
    assert (placed.target, placed.rule) == (target, rule), case
    assert placed.reason == placed.path[-1].note
    assert [step.rule for step in placed.path] == list(RULES[: RULES.index(rule) + 1])
    assert [step.decided for step in placed.path] == [False] * (len(placed.path) - 1) + [True]


CONFLICTS = [
    (
        "pci-dss on kubernetes",
        {"placement": {"target": "kubernetes", "compliance": ["pci-dss"]}},
        "pci-dss",
    ),
    (
        "hipaa on kubernetes",
        {"placement": {"target": "kubernetes", "compliance": ["hipaa", "soc2"]}},
        "hipaa",
    ),
]


@pytest.mark.parametrize(("case", "spec", "regime"), CONFLICTS, ids=[row[0] for row in CONFLICTS])
def test_an_explicit_target_a_compliance_rule_forbids_is_a_manifest_error(
    case: str, spec: dict[str, Any], regime: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        place_application(app("svc", **spec))
    assert regime in caught.value.message, case
    assert "kubernetes" in caught.value.message
    assert str(caught.value.location) == "apps/svc/deploy.yaml"


@pytest.mark.parametrize(
    ("spec", "missing"),
    [({"placement": {"target": "vm"}}, "vsphere"), ({}, "kubernetes")],
    ids=["vm without vsphere", "kubernetes without a cluster"],
)
def test_a_target_the_environment_has_no_site_for_is_a_manifest_error(
    spec: dict[str, Any], missing: str
) -> None:
    sites = {key: value for key, value in SITES.items() if key != missing}
    with pytest.raises(ManifestError, match=f"no {missing} site"):
        place_environment(view(app("svc", **spec), env=environment(sites=sites)))


def test_explain_lists_every_rule_tried_and_the_ones_not_reached() -> None:
    lines = explain(place_application(app("pay", placement={"compliance": ["pci-dss"]})))
    assert lines[0] == "pay: vm (rule compliance-requires-vm)"
    assert "1. explicit-target: passed" in lines[1]
    assert "2. compliance-requires-vm: decided" in lines[2]
    assert lines[3:] == [
        "  -. stateful-requires-vm: not reached",
        "  -. default-kubernetes: not reached",
    ]


TENANT_CONSTRAINT = """
package acme.placement
import rego.v1
forbid contains {"rule": "acme.no-kubernetes-for-web", "app": "web", "target": "kubernetes",
    "msg": "web stays on VMs"} if { true }
"""


def test_a_tenant_constraint_vetoes_the_decided_target_without_moving_the_app() -> None:
    plan = plan_environment(
        view(app("web"), policies={"policies/acme.rego": TENANT_CONSTRAINT}), []
    )
    assert plan.placements["web"].target is Target.KUBERNETES
    denials = [r for r in plan.policy.results if r.blocking]
    assert [r.rule for r in denials] == ["acme.no-kubernetes-for-web"]
    assert "default-kubernetes" in denials[0].message
    assert plan.policy.denied


def test_a_constraint_on_another_target_leaves_the_placement_allowed() -> None:
    policy = TENANT_CONSTRAINT.replace('"target": "kubernetes"', '"target": "vm"')
    plan = plan_environment(view(app("web"), policies={"policies/acme.rego": policy}), [])
    assert not plan.policy.denied


def test_the_builtin_constraint_forbids_a_regulated_vm_without_nsx() -> None:
    sites = {key: value for key, value in SITES.items() if key != "nsx"}
    env = environment(sites=sites)
    plan = plan_environment(view(app("pay", placement={"compliance": ["pci-dss"]}), env=env), [])
    assert "placement.segmentation-needs-nsx" in {r.rule for r in plan.policy.results if r.blocking}
