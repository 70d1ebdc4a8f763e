"""Policy: the built-in packs' own Rego tests, enforcement levels, overrides, and failing closed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from planner import bundles
from planner.bundles import (
    BUILTIN_PACKS,
    build_bundle,
    builtin_directory,
    builtin_sources,
    run_tests,
)
from planner.plans import plan_environment
from planner.policy import EVALUATION_ERROR, PolicyOverride
from tests.planner.builders import app, environment, view


@pytest.mark.parametrize("pack", BUILTIN_PACKS)
def test_each_builtin_pack_passes_its_own_rego_tests(pack: str) -> None:
    outcomes = [o for o in run_tests(builtin_sources()) if o.file == f"{pack}_test.rego"]
    assert len(outcomes) >= 4, f"{pack} has too few tests"
    assert [o.rule for o in outcomes if not o.passed] == []


def test_a_failing_rego_test_is_reported_as_failed() -> None:
    broken = "package t_test\nimport rego.v1\ntest_never if { 1 == 2 }\ntest_always if { true }\n"
    outcomes = run_tests({"t_test.rego": broken})
    assert [(o.rule, o.passed) for o in outcomes] == [("test_never", False), ("test_always", True)]


def test_a_rego_file_that_does_not_load_fails_the_run() -> None:
    [outcome] = run_tests({"bad_test.rego": "package x\ntest_a if {"})
    assert (outcome.rule, outcome.passed) == ("(load)", False)


def rules(
    env_spec: dict[str, Any] | None = None,
    *,
    policies: dict[str, str] | None = None,
    **app_spec: Any,
) -> Any:
    env = environment(**(env_spec or {}))
    return plan_environment(view(app("web", **app_spec), env=env, policies=policies), []).policy


def blocking(report: Any) -> set[str]:
    return {r.rule for r in report.results if r.blocking}


def test_a_clean_app_passes_the_baseline() -> None:
    report = rules()
    assert not report.denied
    assert report.count("deny") == 0


def test_the_latest_tag_is_denied_by_the_baseline() -> None:
    report = rules(image="nginx:latest")
    assert report.denied
    assert "baseline.image-tag" in blocking(report)


def test_advisory_denials_are_reported_but_do_not_block() -> None:
    report = rules(
        {"policy": {"packs": ["baseline"], "enforcement": {"baseline": "advisory"}}},
        image="x:latest",
    )
    assert not report.denied
    assert report.count("deny") == 1


def test_a_soft_mandatory_denial_blocks_until_a_person_overrides_it() -> None:
    env = environment(policy={"packs": ["baseline"], "enforcement": {"baseline": "soft-mandatory"}})
    web = view(app("web", image="x:latest"), env=env)
    assert plan_environment(web, []).policy.denied
    override = PolicyOverride(rule="baseline.image-tag", by="alice", reason="hotfix, INC-42")
    report = plan_environment(web, [], overrides=[override]).policy
    assert not report.denied
    [result] = [r for r in report.results if r.rule == "baseline.image-tag"]
    assert result.override == override


def test_an_override_cannot_lift_a_hard_mandatory_denial() -> None:
    override = PolicyOverride(rule="baseline.image-tag", by="alice", reason="please")
    report = plan_environment(view(app("web", image="x:latest")), [], overrides=[override]).policy
    assert report.denied


RAISING = """
package acme.checks
import rego.v1
deny contains {"rule": "acme.boom", "msg": "x"} if { to_number("not a number") > 1 }
"""
WRONG_SHAPE = "package acme.checks\nimport rego.v1\ndeny contains 42 if { true }\n"
UNLOADABLE = "package acme.checks\ndeny contains msg if {"


@pytest.mark.parametrize(
    "source", [RAISING, WRONG_SHAPE, UNLOADABLE], ids=["raises", "wrong shape", "unloadable"]
)
def test_a_policy_that_cannot_be_evaluated_denies(source: str) -> None:
    report = rules(policies={"policies/acme.rego": source})
    assert report.denied
    assert EVALUATION_ERROR in blocking(report)
    [failure] = [r for r in report.results if r.rule == EVALUATION_ERROR][:1]
    assert "Stack backtrace" not in failure.message


def test_tenant_rules_are_evaluated_as_their_own_hard_mandatory_pack() -> None:
    source = 'package acme.checks\nwarn contains {"rule": "acme.w", "msg": "hi"} if { true }\n'
    report = rules(policies={"policies/acme.rego": source})
    [result] = [r for r in report.results if r.rule == "acme.w"]
    assert (result.pack, result.severity) == ("tenant:acme.checks", "warn")


def test_the_bundle_digest_follows_every_policy_file() -> None:
    base = build_bundle(["baseline"], {})
    edited = build_bundle(["baseline"], {"policies/a.rego": "package a\n"})
    assert base.digest != edited.digest
    assert build_bundle(["baseline"], {}).digest == base.digest
    assert set(build_bundle(["baseline", "soc2"], {}).packs) == {"placement", "baseline", "soc2"}


def test_tenant_test_files_are_not_part_of_the_bundle() -> None:
    bundle = build_bundle(
        [], {"policies/a.rego": "package a\n", "policies/a_test.rego": "package a_test\n"}
    )
    assert sorted(bundle.files) == ["builtin/placement.rego", "tenant/policies/a.rego"]


def test_the_builtin_packs_are_found_in_the_source_tree() -> None:
    directory = builtin_directory()
    assert all((directory / f"{pack}.rego").is_file() for pack in BUILTIN_PACKS)


def test_an_installed_wheel_finds_its_own_copy_of_the_packs_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = tmp_path / "site-packages" / "planner"
    shutil.copytree(builtin_directory(), installed / "_policies" / "rego")
    monkeypatch.setattr(bundles, "__file__", str(installed / "bundles.py"))
    assert builtin_directory() == installed / "_policies" / "rego"


def test_missing_packs_are_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundles, "__file__", str(tmp_path / "planner" / "bundles.py"))
    with pytest.raises(ConfigError, match="built-in Rego policies are missing"):
        builtin_directory()
