"""The plan: its id, the empty world, its renderings, and no secret value in any of them."""

from __future__ import annotations

import base64
import json

import pytest

from core.errors import ManifestError
from core.resources import ObservedResource, Platform, ResourceRef, SecretRef
from planner.plans import plan_environment
from planner.rendering import render_environment
from planner.snapshots import read_snapshot, write_snapshot
from planner.views import render
from planner.views.markdown import render_markdown
from tests.planner.builders import app, view

SECRET = {"secretRef": {"path": "shop/db", "key": "password"}}
CANARY = "CANARY-7f3a9c-do-not-print"


def test_the_empty_world_plans_every_resource_as_a_create() -> None:
    web = view(app("web"), app("db", placement={"target": "vm"}))
    plan = plan_environment(web, read_snapshot({"resources": []}))
    assert plan.has_changes
    assert len(plan.changes) == len(render_environment(web))
    assert {c.action.value for c in plan.changes} == {"create"}


def test_the_plan_id_digests_commit_desired_observed_and_policy() -> None:
    web = view(app("web"))
    observed = [
        ObservedResource(r.ref, r.owner, r.spec, version="1") for r in render_environment(web)
    ]
    base = plan_environment(web, observed, commit="a").id
    assert plan_environment(web, observed, commit="a").id == base
    assert plan_environment(web, observed, commit="b").id != base
    bumped = [ObservedResource(o.ref, o.owner, o.spec, version="2") for o in observed]
    assert plan_environment(web, bumped, commit="a").id != base
    assert plan_environment(view(app("web", replicas=5)), observed, commit="a").id != base
    tenant = view(app("web"), policies={"policies/a.rego": "package a\n"})
    assert plan_environment(tenant, observed, commit="a").id != base


def test_a_snapshot_round_trips_and_rejects_what_is_not_one() -> None:
    observed = [
        ObservedResource(r.ref, r.owner, r.spec, "id-1", "3")
        for r in render_environment(view(app("web")))
    ]
    assert read_snapshot(json.loads(json.dumps(write_snapshot(observed)))) == sorted(
        observed, key=lambda o: o.ref
    )
    for bad in (
        [],
        {"resources": [{"platform": "mars", "kind": "X", "name": "y", "spec": {}}]},
        {"resources": [1]},
    ):
        with pytest.raises(ManifestError):
            read_snapshot(bad)


def _planted() -> list[ObservedResource]:
    """A snapshot whose Secret carries values, as a careless recording would."""
    web = view(app("web", env={"DB_PASSWORD": SECRET}))
    observed = []
    for item in render_environment(web):
        spec = dict(item.spec)
        if item.ref.kind == "Secret":
            spec["data"] = {"DB_PASSWORD": base64.b64encode(CANARY.encode()).decode()}
            spec["stringData"] = {"DB_PASSWORD": CANARY}
        observed.append(ObservedResource(item.ref, item.owner, spec))
    return read_snapshot(write_snapshot(observed))


@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_no_secret_value_reaches_any_rendering(output: str) -> None:
    web = view(app("web", env={"DB_PASSWORD": SECRET, "MODE": "x"}, replicas=3))
    text = render(plan_environment(web, _planted()), output)
    encoded = base64.b64encode(CANARY.encode()).decode()
    assert CANARY not in text
    assert encoded not in text


def test_json_rendering_has_a_format_version_and_has_changes() -> None:
    document = json.loads(render(plan_environment(view(app("web")), []), "json"))
    assert document["format_version"] == "1.0"
    assert document["has_changes"] is True
    assert document["summary"]["add"] == len(document["changes"])
    assert [c["order"] for c in document["changes"]] == list(range(1, len(document["changes"]) + 1))


def test_text_is_coloured_only_when_asked() -> None:
    plan = plan_environment(view(app("web")), [])
    assert "\033[" in render(plan, "text", color=True)
    assert "\033[" not in render(plan, "text", color=False)
    assert render(plan, "text").rstrip().endswith("to destroy.")


def test_markdown_stays_under_the_limit_and_says_it_was_cut() -> None:
    apps = [
        app(f"svc{i}", replicas=2, env={f"V{j}": "x" * 30 for j in range(20)}) for i in range(60)
    ]
    plan = plan_environment(view(*apps), [])
    text = render_markdown(plan)
    assert len(text) <= 60_000
    assert "Truncated:" in text
    assert text.index("| platform |") < text.index("<details>")
    assert text.count("```") % 2 == 0


def test_markdown_of_many_apps_cuts_the_tables_and_keeps_the_summary() -> None:
    apps = [app(f"svc{i}", image="nginx:latest") for i in range(250)]
    text = render_markdown(plan_environment(view(*apps), []))
    assert len(text) <= 60_000
    assert "150 more app(s) in the JSON plan." in text
    assert "more result(s) in the JSON plan." in text
    assert text.count("<details>") == text.count("</details>")


def test_a_small_plan_is_not_truncated() -> None:
    text = render_markdown(plan_environment(view(app("web")), []))
    assert "Truncated" not in text
    assert text.startswith("<!-- rxt:plan acme/prod -->")


def test_an_unknown_platform_object_in_the_world_that_is_not_ours_is_ignored() -> None:
    stray = ObservedResource(
        ResourceRef(Platform.NSX, "Segment", "someone-else"), None, {"id": "x"}
    )
    plan = plan_environment(view(app("web")), [stray])
    assert all(c.ref != stray.ref for c in plan.changes)


def test_a_changed_user_data_is_shown_as_a_line_diff() -> None:
    before = view(app("db", placement={"target": "vm"}, env={"MODE": "a"}))
    observed = [ObservedResource(r.ref, r.owner, r.spec) for r in render_environment(before)]
    after = view(app("db", placement={"target": "vm"}, env={"MODE": "b"}))
    text = render(plan_environment(after, observed), "text")
    assert "~ guestinfo.userdata: <text changed>" in text
    assert "          -    MODE=a\n          +    MODE=b\n" in text
    assert "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy." in text


@pytest.mark.parametrize("output", ["text", "markdown"])
def test_a_rotated_secret_is_named_by_its_reference(output: str) -> None:
    web = view(app("web", env={"DB_PASSWORD": SECRET}))
    ref = SecretRef("shop/db", "password")
    observed = [
        ObservedResource(r.ref, r.owner, r.spec)
        for r in render_environment(web, secret_versions={ref: 1})
    ]
    rotated = plan_environment(web, observed, secret_versions={ref: 2})
    assert {c.ref.kind for c in rotated.changes} == {"Secret", "Deployment"}
    assert render(rotated, output).count("secret shop/db#password: version changed") == 1
