"""The demo's parts that need no simulator: its repository and Git host, the webhooks it sends,
the certificates it imports as the operator would, the stored plan and comment summary it
prints, its bounded waits, and how ``rxt demo`` reports a failed scene or an interruption."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from rich.console import Console

from reconciler.mirrors import RepositoryMirror
from reconciler.webhooks import Push, ReviewRequest, identify, parse_event
from reconciler.wiring.engine import REVIEW_REFSPECS
from reconciler.wiring.registered import repository_name
from rxt.cli import main
from rxt.demo import show
from rxt.demo.githost import GitHost, pull_request_event, push_event, start_git_host
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.scenes import SceneFailed, bump_web, scale_api
from rxt.demo.stage import REPOSITORY, certificate_paths
from rxt.demo.waiting import until
from tests.conftest import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"
STAGING = EXAMPLE / "environments" / "staging"
PAYMENTS = "environments/staging/apps/payments/deploy.yaml"


@pytest.fixture
def git_host(tmp_path: Path) -> Iterator[GitHost]:
    host = start_git_host(tmp_path / "git", port=free_port())
    yield host
    host.stop()


def test_the_demo_repository_served_by_its_git_host_has_main_a_review_and_their_merge(
    tmp_path: Path, git_host: GitHost
) -> None:
    repo = DemoRepository(git_host.root, example=EXAMPLE, name=REPOSITORY,
                          url=git_host.url_of(REPOSITORY))  # fmt: skip
    base = repo.initial()
    head = repo.branch("pr", {PAYMENTS: str.upper}, message="shout")
    repo.open_review("pr", number=7)
    merged = repo.merge("pr", message="merge")
    commit = repo.remote.get(pygit2.Oid(hex=merged))
    assert isinstance(commit, pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [base, head]
    assert commit.tree_id == repo.remote.get(pygit2.Oid(hex=head)).tree_id
    # The engine's kind of mirror fetches it over git://, review heads included.
    mirror = RepositoryMirror(repo.url, cache_dir=tmp_path / "cache",
                              extra_refspecs=REVIEW_REFSPECS)  # fmt: skip
    mirror.fetch()
    assert mirror.head("main") == merged
    assert mirror.tree_at(merged).exists("environments/staging/environment.yaml")
    fetched = pygit2.Repository(str(mirror.path))
    assert str(fetched.references["refs/pull/7/head"].target) == head


def test_webhooks_name_the_repository_as_the_engine_names_the_git_hosts_url(
    git_host: GitHost,
) -> None:
    """The engine follows a registration under the name read from its URL; the webhooks the
    demo sends, and the GitHub fake, must use that same name."""
    assert repository_name(git_host.url_of(REPOSITORY)) == REPOSITORY


def test_stopping_the_git_host_ends_its_process(tmp_path: Path) -> None:
    host = start_git_host(tmp_path / "git", port=free_port())
    host.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(host.pid, 0)


@pytest.mark.parametrize(
    ("event", "payload", "kind", "merged"),
    [
        ("push", push_event(REPOSITORY, url="git://h/acme/envs.git", before="a" * 40,
                            after="b" * 40), Push, False),
        ("pull_request", pull_request_event(REPOSITORY, url="git://h/acme/envs.git", number=7,
         head="c" * 40, branch="pr", base="a" * 40), ReviewRequest, False),
        ("pull_request", pull_request_event(REPOSITORY, url="git://h/acme/envs.git", number=7,
         head="c" * 40, branch="pr", base="a" * 40, merged="d" * 40), ReviewRequest, True),
    ],
)  # fmt: skip
def test_the_demos_webhooks_parse_as_the_engine_reads_githubs(
    event: str, payload: dict[str, object], kind: type, merged: bool
) -> None:
    body = json.dumps(payload).encode()
    repository = identify("github", body)
    assert repository.full_name == REPOSITORY
    parsed = parse_event("github", event, body, repository)
    assert isinstance(parsed, kind)
    if isinstance(parsed, ReviewRequest):
        assert (parsed.number, parsed.merged) == (7, merged)
        assert parsed.merge_commit == ("d" * 40 if merged else "")


def test_a_wait_that_never_ends_fails_the_scene_naming_what_did_not_happen() -> None:
    started = time.monotonic()
    with pytest.raises(SceneFailed) as raised:
        until(lambda: None, seconds=0.3, scene="drift", what="the drift report", hint="look")
    assert time.monotonic() - started < 5
    assert raised.value.message == "scene 'drift': the drift report did not happen within 0 s"
    assert raised.value.hint == "look"


def test_a_wait_returns_what_it_waited_for() -> None:
    answers = iter([None, None, {"id": 3}])
    assert until(lambda: next(answers), seconds=5, scene="s", what="w") == {"id": 3}


PLAN = {
    "plan_id": "sha256:abc", "tenant": "acme", "environment": "staging", "commit": "f" * 40,
    "placements": [{"app": "db", "target": "vm", "rule": "stateful-requires-vm",
                    "reason": "placement.stateful is true"}],
    "changes": [{"address": "vsphere:VirtualMachine/acme-staging/acme-staging-db-0",
                 "action": "create", "reason": ""},
                {"address": "kubernetes:Deployment/acme-staging/api", "action": "update",
                 "reason": "spec.replicas differs"}],
    "policy": {"denied": False, "results": [{"blocking": False}]},
    "cost": {"currency": "USD", "monthly_before": 0.0, "monthly_after": 10.0,
             "monthly_delta": 10.0},
    "summary": {"add": 1, "change": 1, "replace": 0, "destroy": 0},
}  # fmt: skip


def test_a_stored_plan_is_shown_with_its_placements_and_one_line_per_change() -> None:
    console = Console(width=120, record=True)
    console.print(show.placements_table(PLAN))
    console.print(show.plan_text(PLAN))
    text = console.export_text()
    assert "stateful-requires-vm" in text
    assert "placement.stateful is true" in text
    assert "+ vsphere:VirtualMachine/acme-staging/acme-staging-db-0" in text
    assert "~ kubernetes:Deployment/acme-staging/api  spec.replicas differs" in text
    assert "policy passed: 0 blocking, 1 result(s)" in text
    assert "Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy." in text


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
