"""``rxt demo`` refuses to start without a valid example repository, saying why; the whole
demo is tested in test_demo.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxt.cli import main
from rxt.commands import demo
from tests.planner.manifest_samples import copy_example


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


def test_the_demo_refuses_a_data_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rxt.db").write_text("")
    assert main(["demo", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is not empty; the demo starts from a fresh state" in err
