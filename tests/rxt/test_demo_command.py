"""``rxt demo``: the example repository validated and summarised, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxt.cli import main
from rxt.commands import demo
from tests.planner.manifest_samples import copy_example


def test_the_demo_summarises_each_environment_of_the_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "environment prod (tenant acme)" in out
    assert "environment staging (tenant acme)" in out
    assert "valid: repository" in out
    assert "2 environments (prod, staging), 10 applications" in out
    for row in (
        "https://pay.acme.example.com ",
        "2, auto 2-10",
        "postgres@a0933351cd31",
        "pci-dss",
        "from api, payments, worker",
    ):
        assert row in out
    assert out.count("vm (compliance-requires-vm)") == 2
    assert out.count("vm (stateful-requires-vm)") == 2
    assert out.count("kubernetes (default-kubernetes)") == 6
    assert "nothing is planned against the simulators or applied" in out


def test_the_demo_without_its_example_repository_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "find_example_repo", lambda: None)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "the example-repo/ folder was not found next to the rxt package" in err
    assert "hint: run `rxt demo` from a source checkout" in err


def test_the_demo_refuses_a_broken_example_with_its_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = copy_example(tmp_path / "repo")
    (repo / "environments/prod/apps/db/deploy.yaml").write_text("kind: Application\n")
    monkeypatch.setattr(demo, "find_example_repo", lambda: repo)
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "environments/prod/apps/db/deploy.yaml:1:1: apiVersion is required but missing" in out


def test_an_unknown_demo_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast"]) == 64
    assert "No such option" in capsys.readouterr().err
