"""The demo's parts that need no simulator: its Git host, the certificates it imports as the
operator would, the comment summary, and how ``rxt demo`` reports a failed scene or an
interruption."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from rich.console import Console

from rxt.cli import main
from rxt.demo import show
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.scenes import SceneFailed, bump_web, scale_api
from rxt.demo.stage import certificate_paths

EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"
STAGING = EXAMPLE / "environments" / "staging"
PAYMENTS = "environments/staging/apps/payments/deploy.yaml"


def test_the_demo_repository_has_main_a_review_branch_and_a_merge_commit_of_both(
    tmp_path: Path,
) -> None:
    repo = DemoRepository(tmp_path, example=EXAMPLE)
    base = repo.initial()
    head = repo.branch("pr", {PAYMENTS: str.upper}, message="shout")
    merged = repo.merge("pr", message="merge")
    commit = repo.remote.get(pygit2.Oid(hex=merged))
    assert isinstance(commit, pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [base, head]
    assert commit.tree_id == repo.remote.get(pygit2.Oid(hex=head)).tree_id
    assert repo.mirror.head("main") == merged
    tree = repo.mirror.tree_at(merged)
    assert tree.exists("environments/staging/environment.yaml")


@pytest.mark.parametrize(
    ("edit", "before", "after"),
    [
        (bump_web, "web@sha256:d8725a37", "web@sha256:5f1d2c3b"),
        (scale_api, "replicas: 1", "replicas: 2"),
    ],
)
def test_the_pull_request_edits_change_exactly_what_they_say(
    edit: object, before: str, after: str
) -> None:
    path = "web" if edit is bump_web else "api"
    text = (STAGING / "apps" / path / "deploy.yaml").read_text()
    assert callable(edit)
    changed = edit(text)
    assert before in text
    assert after in changed
    assert before not in changed


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_the_demo_imports_the_certificate_of_every_tls_virtual_server_and_only_those(
    environment: str,
) -> None:
    paths = certificate_paths(EXAMPLE, environment)
    assert paths == [f"/infra/certificates/acme-{environment}-payments-tls"]


def test_the_comment_summary_hides_the_marker_and_the_folded_plan() -> None:
    body = (
        "<!-- rxt:plan acme/staging -->\n### Plan\n**Policy:** ok\n<details>\nfull plan\n</details>"
    )
    console = Console(width=80, record=True)
    console.print(show.comment_summary(body))
    text = console.export_text()
    assert "Policy: ok" in text
    assert "rxt:plan" not in text
    assert "full plan" not in text


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (SceneFailed("scene 'drift': the drift check found ok", hint="h"), 1, "scene 'drift'"),
        (KeyboardInterrupt(), 130, "everything the demo started was stopped"),
    ],
)
def test_a_failed_scene_or_an_interruption_ends_the_demo_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    said: str,
) -> None:
    def play(*_args: object, **_kwargs: object) -> None:
        raise raised

    monkeypatch.setattr("rxt.commands.demo.run_demo", play)
    assert main(["demo"]) == code
    assert said in capsys.readouterr().out
