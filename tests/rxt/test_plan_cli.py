"""``rxt plan``, ``rxt explain`` and ``rxt policy test`` on the example repository."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from core.resources import ObservedResource
from planner.loading import load_environment
from planner.rendering import render_environment
from planner.snapshots import write_snapshot
from rxt.cli import main
from rxt.commands import plan as plan_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-repo"
PROD = str(EXAMPLE / "environments" / "prod")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.json"
    path.write_text('{"resources": []}', encoding="utf-8")
    return path


def test_a_plan_with_changes_exits_2_and_prints_the_summary(
    capsys: pytest.CaptureFixture[str], empty: Path
) -> None:
    code, out, _ = run(capsys, "plan", PROD, "--observed", str(empty))
    assert code == 2
    assert "\033[" not in out, "no colour when stdout is not a terminal"
    assert out.rstrip().endswith("Plan: 22 to add, 0 to change, 0 to replace, 0 to destroy.")


def test_a_converged_world_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    view = load_environment(Path(PROD), repo_root=EXAMPLE)
    converged = [ObservedResource(r.ref, r.owner, r.spec) for r in render_environment(view)]
    snapshot = tmp_path / "converged.json"
    snapshot.write_text(json.dumps(write_snapshot(converged)), encoding="utf-8")
    code, out, _ = run(capsys, "plan", PROD, "--observed", str(snapshot))
    assert code == 0
    assert "No changes." in out


def test_the_recorded_snapshot_plans_changes_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    recorded = str(EXAMPLE / "snapshots" / "prod.json")
    code, out, _ = run(
        capsys, "plan", PROD, "--observed", recorded, "-o", "json", "--commit", "abc"
    )
    document = json.loads(out)
    assert code == 2
    assert (document["has_changes"], document["commit"]) == (True, "abc")


def test_a_denied_plan_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, empty: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    deploy = repo / "environments" / "prod" / "apps" / "web" / "deploy.yaml"
    text = deploy.read_text(encoding="utf-8")
    deploy.write_text(text.replace("tls: true", "tls: false"), encoding="utf-8")
    code, out, _ = run(
        capsys,
        "plan",
        str(repo / "environments" / "prod"),
        "--observed",
        str(empty),
        "-o",
        "markdown",
    )
    assert code == 3
    assert "baseline.tls" in out


def test_errors_exit_1_with_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "plan", PROD, "--observed", str(bad))
    assert code == 1
    assert "cannot read the snapshot" in err


def test_a_missing_observed_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", PROD)[0] == 64


def test_explain_prints_the_decision_path_and_what_renders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "explain", PROD, "payments")
    assert code == 0
    assert out.splitlines()[0] == "payments: vm (rule compliance-requires-vm)"
    assert "placement.regulated-off-kubernetes forbids kubernetes: does not apply" in out
    assert "vsphere:VirtualMachine/acme-prod/acme-prod-payments-0" in out


def test_explain_names_the_apps_when_one_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "explain", PROD, "nope")
    assert code == 1
    assert "apps here: api, db, payments, web, worker" in err


def test_policy_test_runs_the_builtin_rego_tests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "test")
    assert code == 0
    assert "0 failed" in out


def test_policy_test_fails_on_a_failing_tenant_test(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mine_test.rego").write_text(
        "package mine_test\ntest_x if { false }\n", encoding="utf-8"
    )
    code, out, _ = run(capsys, "policy", "test", str(tmp_path))
    assert code == 1
    assert "FAIL  tenant/mine_test.rego  test_x" in out


@pytest.mark.parametrize(
    ("tty", "no_color_env", "flag", "coloured"),
    [
        (True, False, False, True),
        (True, True, False, False),
        (True, False, True, False),
        (False, False, False, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color_env: bool, flag: bool, coloured: bool
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    if no_color_env:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    assert plan_cli._use_color(flag) is coloured


def test_a_price_sheet_sets_the_cost(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, empty: Path
) -> None:
    sheet = tmp_path / "prices.json"
    zero = {"vcpu": 0, "memoryGiB": 0, "storageGiB": 0}
    sheet.write_text(
        json.dumps({"currency": "EUR", "kubernetes": zero, "vsphere": zero}), encoding="utf-8"
    )
    code, out, _ = run(
        capsys, "plan", PROD, "--observed", str(empty), "--prices", str(sheet), "-o", "json"
    )
    assert code == 2
    cost = json.loads(out)["cost"]
    assert (cost["currency"], cost["monthly_after"]) == ("EUR", 0.0)
    sheet.write_text('{"vsphere": {"vcpu": -1}}', encoding="utf-8")
    code, _, err = run(capsys, "plan", PROD, "--observed", str(empty), "--prices", str(sheet))
    assert code == 1
    assert "price sheet" in err
