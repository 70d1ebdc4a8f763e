"""``rxt validate`` as a user runs it: exit codes, every error with its position, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rxt.cli import main
from tests.planner.manifest_samples import copy_example

WEB = "repo/environments/prod/apps/web/deploy.yaml"
API = "repo/environments/staging/apps/api/deploy.yaml"
WORKER = "repo/environments/staging/apps/worker/deploy.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return copy_example(tmp_path / "repo")


def _break(repo: Path) -> None:
    web = repo / "environments/prod/apps/web/deploy.yaml"
    web.write_text(web.read_text().replace("port: http, tls", "port: htp, tls"))
    api = repo / "environments/staging/apps/api/deploy.yaml"
    api.write_text(api.read_text().replace("dependsOn: [db]", "dependsOn: [dbb]"))
    worker = repo / "environments/staging/apps/worker/deploy.yaml"
    worker.write_text(worker.read_text().replace("replicas: 1", "replicas: one"))


@pytest.mark.parametrize(
    ("target", "summary"),
    [
        ("repo", "valid: repository repo: 2 environments (prod, staging), 10 applications"),
        ("repo/environments",
         "valid: repository repo/environments: 2 environments (prod, staging), 10 applications"),
        ("repo/environments/prod",
         "valid: environment repo/environments/prod: 1 environment (prod), 5 applications"),
        ("repo/environments/prod/apps/db/deploy.yaml",
         "valid: repo/environments/prod/apps/db/deploy.yaml (Application db)"),
        ("repo/environments/prod/environment.yaml",
         "valid: repo/environments/prod/environment.yaml (Environment prod)"),
    ],
    ids=["repository", "environments folder", "environment", "app file", "environment file"],
)  # fmt: skip
def test_a_valid_target_exits_zero_with_a_summary(
    repo: Path, capsys: pytest.CaptureFixture[str], target: str, summary: str
) -> None:
    assert run(["validate", target], capsys) == (0, summary + "\n", "")


def test_a_broken_repository_prints_every_error_with_position_and_hint(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(repo)
    code, out, err = run(["validate", "repo"], capsys)
    assert code == 1
    assert err == ""
    assert out.splitlines() == [
        f"{WEB}:16:55: expose.port 'htp' is not the name of a port of this application",
        "  hint: did you mean 'http'?",
        f"{API}:21:15: dependsOn names 'dbb', which is not an application of this environment",
        "  hint: did you mean 'db'?",
        f"{WORKER}:9:13: spec.replicas must be an integer, not 'one'",
        "invalid: 3 errors in 3 files",
    ]


def test_json_output_lists_errors_in_the_documented_shape(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(repo)
    code, out, _ = run(["validate", "repo", "--output", "json"], capsys)
    document = json.loads(out)
    assert code == 1
    assert document["valid"] is False
    assert document["target"] == {"path": "repo", "kind": "repository"}
    assert document["errors"][0] == {
        "path": WEB,
        "line": 16,
        "column": 55,
        "message": "expose.port 'htp' is not the name of a port of this application",
        "hint": "did you mean 'http'?",
    }
    assert len(document["errors"]) == 3
    assert document["environments"] == []
    assert document["document"] is None


def test_json_output_of_a_valid_file_names_the_document(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["validate", "-o", "json", WEB], capsys)
    assert code == 0
    assert json.loads(out) == {
        "valid": True,
        "target": {"path": WEB, "kind": "file"},
        "errors": [],
        "environments": [],
        "document": {"kind": "Application", "name": "web"},
    }


def test_json_output_of_a_valid_repository_lists_its_environments(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["validate", "-o", "json", "repo"], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["valid"] is True
    assert document["errors"] == []
    assert document["environments"] == [
        {"name": "prod", "tenant": "acme", "apps": ["api", "db", "payments", "web", "worker"]},
        {"name": "staging", "tenant": "acme", "apps": ["api", "db", "payments", "web", "worker"]},
    ]


def test_a_folder_that_is_no_repository_is_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    code, out, _ = run(["validate", "empty"], capsys)
    assert code == 1
    assert out.splitlines()[0] == "empty/environments: no environments in this repository"


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["validate", "does-not-exist"],
        ["validate", ".", "--output", "yaml"],
        ["validate", "--bogus", "."],
    ],
    ids=["no path", "missing path", "unknown format", "unknown option"],
)  # fmt: skip
def test_usage_errors_exit_64_not_2(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 64
    assert "Usage: rxt validate" in err
