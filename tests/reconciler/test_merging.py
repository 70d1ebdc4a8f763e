"""Merge-time plan matching through the engine: a pull request previewed over a signed webhook,
then its merge pushed to main. The merge applies when its plan is the previewed one; otherwise
the sticky comment says why it was planned again and the changes are held until a person
approves the new plan through the tenant API (or applied, with ``on_stale_merge: apply``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pygit2
import pytest

from drivers.fake import FakeWorld
from reconciler.mirrors import RepositoryMirror
from reconciler.reconciling import Result
from reconciler.recording import stored_plan_id
from reconciler.sweeping import prune_preview_ledger
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import REVIEW_REFSPECS, Engine, EngineSettings, Source
from reconciler.wiring.reviews import ForgeAccess
from rxt.api import create_app
from rxt.api.access import TenantServices
from rxt.api.serving import running_in_thread
from simulators.github import ForgeSimulator
from state.access import Role
from state.database import utc_now
from state.store import Store
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import DB, WEB, EnvRepo, db_yaml, web_yaml
from tests.reconciler.gitrepos import commit, nest, write_tree

TOKEN = "ghp-engine-token"
REPO = "acme/env-repo"
SIGNATURE = pygit2.Signature("Dev", "dev@example.com", 1_700_000_100, 0)


@pytest.fixture
def forge() -> Iterator[ForgeSimulator]:
    with ForgeSimulator() as sim:
        sim.add_token(TOKEN)
        sim.add_repository(REPO, reviews=(42,))
        yield sim


@dataclass
class Stage:
    """The engine, its HTTP API (webhooks and the tenant API) and what the tests look at."""

    engine: Engine
    store: Store
    world: FakeWorld
    repo: EnvRepo
    forge: ForgeSimulator
    url: str
    admin: str

    def post(self, event: str, body: dict[str, Any]) -> None:
        signed = payloads.github(event, body)
        answer = httpx.post(
            f"{self.url}/webhooks/github", content=signed.body, headers=signed.headers
        )
        assert answer.status_code == 202, answer.text

    def work(self) -> None:
        """Run every queued item."""
        worker = self.engine.worker("w")
        while worker.step():
            pass

    def approve(self, plan_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/plans/{stored_plan_id(plan_id)}/approvals",
            headers={"Authorization": f"Bearer {self.admin}"},
            json={"reason": "the new plan was read"},
        )

    def comment(self) -> str:
        [comment] = self.forge.comments(REPO, 42)
        return comment.body

    def last(self) -> Result:
        return self.engine.results[-1]


def stage_for(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator,
    *, on_stale: Literal["hold", "apply"],
) -> Iterator[Stage]:  # fmt: skip
    mirror = RepositoryMirror(
        f"file://{env_repo.remote_dir}", cache_dir=tmp_path / "merge-cache",
        extra_refspecs=REVIEW_REFSPECS,
    )  # fmt: skip
    source = Source(REPO, mirror, "acme", ("prod",), webhook_secrets=(payloads.SECRET,))
    access = ForgeAccess("github", TOKEN, forge.url, on_stale_merge=on_stale)
    settings = EngineSettings(workers=0, drift_schedule=False, forge=access)
    engine = Engine(store, fake_sites(world), [source], settings=settings)
    api = TenantServices.of(store)
    admin = api.tokens.issue("acme", role=Role.ADMIN, name="acme-admin").secret
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog), tenant_api=api,
    )  # fmt: skip
    with running_in_thread(app, port=free_port()) as url:
        yield Stage(engine, store, world, env_repo, forge, url, admin)


@pytest.fixture
def stage(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> Iterator[Stage]:
    yield from stage_for(store, world, env_repo, tmp_path, forge, on_stale="hold")


@pytest.fixture
def applying(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> Iterator[Stage]:
    yield from stage_for(store, world, env_repo, tmp_path, forge, on_stale="apply")


def review_files(repo: EnvRepo) -> dict[str, bytes]:
    """Main's files with the web app scaled to 5: what pull request 42 changes."""
    files = dict(repo.files)
    files[f"{repo.base}/{WEB}"] = web_yaml(replicas=5).encode()
    return files


def preview(stage: Stage) -> str:
    """Push pull request 42, send its webhook and run the preview; returns its head."""
    stage.repo.initial()
    head = commit(stage.repo.remote, nest(review_files(stage.repo)), branch="pr")
    stage.repo.remote.references.create("refs/pull/42/head", head, force=True)
    body = payloads.github_pull_request()
    body["pull_request"]["head"]["sha"] = head
    stage.post("pull_request", body)
    stage.work()
    assert "Planned again" not in stage.comment()
    return head


def merge(stage: Stage, head: str) -> str:
    """Merge pull request 42 into main with a merge commit (the tree is main's files with the
    review's change), push it and run the push's reconcile; returns the merge commit."""
    remote = stage.repo.remote
    main = remote.references["refs/heads/main"].target
    tree = write_tree(remote, nest(review_files(stage.repo)))
    merged = str(
        remote.create_commit(
            "refs/heads/main", SIGNATURE, SIGNATURE, "Merge pull request #42", tree,
            [main, pygit2.Oid(hex=head)],
        )
    )  # fmt: skip
    push(stage, merged)
    return merged


def push(stage: Stage, after: str) -> None:
    stage.post("push", payloads.github_push(after=after))
    stage.work()


def nothing(stage: Stage, head: str) -> None:
    """Nobody touches anything between the preview and the merge."""


def base_moved(stage: Stage, head: str) -> None:
    """Another change lands on main first: the merge commit carries it too."""
    stage.repo.push({DB: db_yaml(cpu=4)})


def platform_changed(stage: Stage, head: str) -> None:
    """Someone creates one of the previewed objects by hand (with our marker)."""
    target = stage.engine.targets["acme/prod"]
    change = stage.engine.reconciler.preview(target, head).changes[0]
    stage.world.drivers()[change.ref.platform].apply(change)


@dataclass(frozen=True)
class Meanwhile:
    change: Callable[[Stage, str], None]
    why: str


STALE = [
    pytest.param(Meanwhile(base_moved, "differ from the previewed head"), id="the base moved"),
    pytest.param(
        Meanwhile(platform_changed, "the platforms changed since the preview"),
        id="the platform changed",
    ),
]


def test_a_merge_whose_plan_is_the_previewed_one_is_applied_and_its_verdict_matches(
    stage: Stage,
) -> None:
    head = preview(stage)
    merged = merge(stage, head)

    result = stage.last()
    verdict = stage.store.previews.verdict("acme", "prod", merged)
    assert (result.status, result.replanned, result.held, result.hold) == ("succeeded", "", (), "")
    assert verdict is not None
    assert (verdict.matches, verdict.number, verdict.plan_id) == (True, 42, result.plan_id)
    assert stage.world.writes > 0
    assert "Planned again" not in stage.comment()


@pytest.mark.parametrize("meanwhile", STALE)
def test_a_stale_merge_is_planned_again_held_and_released_by_an_approval_of_the_new_plan(
    stage: Stage, meanwhile: Meanwhile
) -> None:
    head = preview(stage)
    meanwhile.change(stage, head)
    writes = stage.world.writes
    merged = merge(stage, head)

    held = stage.last()
    assert (held.status, held.applied) == ("unchanged", 0)
    assert meanwhile.why in held.replanned
    assert held.held
    assert "approve the plan" in held.hold
    assert stage.world.writes == writes
    body = stage.comment()  # edited in place: still one comment
    assert "Planned again on merge" in body
    assert meanwhile.why in body
    assert f"POST /api/v1/plans/{stored_plan_id(held.plan_id)}/approvals" in body
    verdict = stage.store.previews.verdict("acme", "prod", merged)
    assert verdict is not None
    assert (verdict.matches, verdict.held, verdict.plan_id) == (False, True, held.plan_id)

    # A heal or an API sync of the same commit is held too: the verdict is read from the store.
    again = stage.engine.reconciler.reconcile(
        stage.engine.targets["acme/prod"], merged, trigger="heal"
    )
    assert (again.status, again.held, again.hold) == ("unchanged", held.held, held.hold)
    assert stage.world.writes == writes

    answer = stage.approve(held.plan_id)
    assert answer.status_code == 201, answer.text
    stage.work()  # the approval queued a reconcile of the environment
    released = stage.last()
    assert (released.status, released.held, released.failed) == ("succeeded", (), ())
    assert released.applied == len(held.held)
    assert stage.world.writes > writes


def test_pruning_the_ledger_never_releases_a_held_merge(stage: Stage) -> None:
    head = preview(stage)
    platform_changed(stage, head)
    merged = merge(stage, head)
    held = stage.last()
    assert held.held
    writes = stage.world.writes

    pruned = prune_preview_ledger(stage.store, retain=dt.timedelta(0), now=utc_now())

    assert (pruned.previews, pruned.verdicts) == (1, 0)  # the held verdict stays
    again = stage.engine.reconciler.reconcile(
        stage.engine.targets["acme/prod"], merged, trigger="heal"
    )
    assert (again.status, again.held, again.hold) == ("unchanged", held.held, held.hold)
    assert stage.world.writes == writes


def test_with_apply_a_stale_merge_is_applied_and_the_comment_still_says_why(
    applying: Stage,
) -> None:
    head = preview(applying)
    base_moved(applying, head)
    merged = merge(applying, head)

    result = applying.last()
    assert (result.status, result.held, result.hold) == ("succeeded", (), "")
    assert "differ from the previewed head" in result.replanned
    body = applying.comment()
    assert "Planned again on merge" in body
    assert "/approvals" not in body
    verdict = applying.store.previews.verdict("acme", "prod", merged)
    assert verdict is not None
    assert (verdict.matches, verdict.held) == (False, False)


def test_a_squash_merge_is_found_through_the_closed_event(stage: Stage) -> None:
    head = preview(stage)
    squashed = commit(stage.repo.remote, nest(review_files(stage.repo)))  # one parent: main
    closed = payloads.github_pull_request_merged(merge_commit=squashed)
    closed["pull_request"]["head"]["sha"] = head
    stage.post("pull_request", closed)
    push(stage, squashed)

    result = stage.last()
    verdict = stage.store.previews.verdict("acme", "prod", squashed)
    assert result.status == "succeeded"
    assert verdict is not None
    assert (verdict.matches, verdict.repository, verdict.number) == (True, REPO, 42)


def test_a_squash_merge_pushed_before_its_closed_event_is_found_by_its_message(
    stage: Stage,
) -> None:
    """The forges send the push and the closed event in no set order; GitHub's default squash
    title ends "(#42)", which names the review when the push comes first."""
    preview(stage)
    files = nest(review_files(stage.repo))
    squashed = commit(stage.repo.remote, files, message="Scale the web app (#42)\n\n* more")
    push(stage, squashed)

    verdict = stage.store.previews.verdict("acme", "prod", squashed)
    assert stage.last().status == "succeeded"
    assert verdict is not None
    assert (verdict.matches, verdict.repository, verdict.number) == (True, REPO, 42)


def test_a_squash_merge_without_the_closed_event_is_a_plain_push(stage: Stage) -> None:
    head = preview(stage)
    squashed = commit(stage.repo.remote, nest(review_files(stage.repo)))
    push(stage, squashed)
    assert stage.last().status == "succeeded"
    assert head != squashed
    assert stage.store.previews.verdict("acme", "prod", squashed) is None


def test_a_push_that_merges_no_review_is_reconciled_plainly(stage: Stage) -> None:
    pushed = stage.repo.initial()
    push(stage, pushed)
    result = stage.last()
    assert (result.status, result.replanned, result.hold) == ("succeeded", "", "")
    assert stage.store.previews.verdict("acme", "prod", pushed) is None
    assert stage.forge.comments(REPO, 42) == []
