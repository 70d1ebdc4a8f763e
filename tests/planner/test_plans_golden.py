"""Golden renderings of the example repository's plans against its recorded snapshots.

Set ``RXT_REGENERATE_GOLDEN=1`` to rewrite the snapshots and the golden files after an intended
change; review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from planner.plans import Plan, plan_environment
from planner.snapshots import read_snapshot, write_snapshot
from planner.views import render
from tests.planner.builders import example
from tests.planner.example_snapshots import COMMIT, SCENARIOS, SNAPSHOTS

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("RXT_REGENERATE_GOLDEN") == "1"
SUFFIXES = {"text": "txt", "json": "json", "markdown": "md"}


def _compare(path: Path, text: str) -> None:
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, (
        f"{path.name} differs; see the module docstring"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_recorded_snapshot_is_what_its_scenario_makes(name: str) -> None:
    document = write_snapshot(SCENARIOS[name]().everything())
    _compare(SNAPSHOTS / f"{name}.json", json.dumps(document, indent=1, sort_keys=True) + "\n")


def _plan(name: str) -> Plan:
    document = json.loads((SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8"))
    return plan_environment(example(name), read_snapshot(document), commit=COMMIT)


@pytest.mark.parametrize("output", sorted(SUFFIXES))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_example_plan_renders_as_its_golden_file(name: str, output: str) -> None:
    _compare(GOLDEN / f"{name}.{SUFFIXES[output]}", render(_plan(name), output))


def test_the_prod_plan_holds_each_kind_of_change() -> None:
    plan = _plan("prod")
    actions = {(c.ref.kind, c.ref.name): c.action.value for c in plan.changes}
    assert actions == {
        ("Deployment", "api"): "update",
        ("Deployment", "web"): "update",
        ("LBVirtualServer", "acme-prod-payments-vs"): "create",
        ("Deployment", "reports"): "delete",
        ("VirtualMachine", "acme-prod-reports-0"): "delete",
    }
    assert [c.needs_approval for c in plan.changes if c.ref.kind == "VirtualMachine"] == [True]


def test_the_staging_plan_holds_a_replace_and_a_conflict() -> None:
    plan = _plan("staging")
    replace = [c for c in plan.changes if c.action.value == "replace"]
    assert [c.ref.name for c in replace] == ["acme-staging-db-0"]
    assert "shrinks" in replace[0].reason
    assert [c.ref.name for c in plan.conflicts] == ["api-secrets"]
