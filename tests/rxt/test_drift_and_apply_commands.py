"""``rxt drift`` prints the latest report with its exit code; ``rxt apply`` reconciles an
environment from its repository against the fake Kubernetes API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rxt.cli import main
from rxt.commands.db import open_configured_store
from simulators.kubernetes import FakeApiServer
from state.models import DriftStatus
from tests.reconciler.envrepo import EnvRepo

DIFF = {
    "ref": "kubernetes:Deployment/acme-prod/web",
    "owner": "acme/prod/web/deployment",
    "drift": "changed outside RXT Deploy",
    "fields": [{"path": "spec.replicas", "expected": 2, "actual": 7}],
}


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RXT_DATABASE_URL", f"sqlite:///{tmp_path / 'rxt.db'}")


def _report(status: DriftStatus, diffs: list[dict[str, object]]) -> None:
    store = open_configured_store()
    try:
        env_id = store.catalog.environment("acme", "prod")
        store.catalog.report_drift(env_id, status, diffs=diffs)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("status", "diffs", "code", "shown"),
    [
        (DriftStatus.DRIFTED, [DIFF], 2, "spec.replicas: expected 2, found 7"),
        (DriftStatus.OK, [], 0, "acme/prod: ok"),
        (DriftStatus.DISABLED, [], 0, "acme/prod: disabled"),
        (DriftStatus.ERROR, [], 1, "acme/prod: error"),
    ],
)
def test_rxt_drift_prints_the_latest_report_and_exits_by_its_status(
    capsys: pytest.CaptureFixture[str],
    status: DriftStatus,
    diffs: list[dict[str, object]],
    code: int,
    shown: str,
) -> None:
    _report(status, diffs)
    assert main(["drift", "acme/prod"]) == code
    assert shown in capsys.readouterr().out


def test_rxt_drift_of_an_unknown_environment_is_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["drift", "acme/nowhere"]) == 1
    assert "no environment acme/nowhere" in capsys.readouterr().err


@pytest.fixture
def kube() -> Iterator[FakeApiServer]:
    server = FakeApiServer(tick=0.05)
    server.start()
    yield server
    server.stop()


def _config(tmp_path: Path, kube: FakeApiServer) -> Path:
    config = tmp_path / "engine.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cache_dir": str(tmp_path / "engine-cache"),
                "repositories": [
                    {
                        "url": f"file://{tmp_path / 'remote'}",
                        "name": "acme/env-repo",
                        "tenant": "acme",
                        "environments": ["prod"],
                    }
                ],
                "kubernetes": {"spot": {"url": kube.url}},
            }
        )
    )
    return config


def test_rxt_diff_shows_the_plan_rxt_apply_applies_it_and_both_then_find_nothing_to_do(
    tmp_path: Path, kube: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    EnvRepo(tmp_path / "remote", tmp_path / "cache", vm=False).initial()
    config = str(_config(tmp_path, kube))
    assert main(["diff", "acme/prod", "--config", config, "-o", "json"]) == 2
    assert '"has_changes": true' in capsys.readouterr().out
    assert main(["apply", "acme/prod", "--config", config]) == 0
    assert "\nsucceeded: plan " in "\n" + capsys.readouterr().out
    assert main(["apply", "acme/prod", "--config", config]) == 0
    assert "\nunchanged: plan " in "\n" + capsys.readouterr().out
    assert main(["diff", "acme/prod", "--config", config]) == 0
