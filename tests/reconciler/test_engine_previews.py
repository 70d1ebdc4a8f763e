"""The engine posts previews: a signed pull_request webhook through the HTTP API queues one
preview, a worker plans the head without applying it and the fake GitHub gets the sticky
comment and the commit status; the configuration's forge section gives the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from core.errors import ConfigError
from drivers.fake import FakeWorld
from reconciler.mirrors import RepositoryMirror
from reconciler.wiring.config import parse_config
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import REVIEW_REFSPECS, Engine, EngineSettings, Source
from reconciler.wiring.reviews import ForgeAccess
from rxt.api import create_app
from rxt.api.serving import running_in_thread
from simulators.github import ForgeSimulator
from state.audit import LogFilter
from state.models import Plan as PlanRow
from state.models import Revision as RevisionRow
from state.models.coordination import Lease as LeaseRow
from state.store import Store
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import WEB, EnvRepo, web_yaml
from tests.reconciler.gitrepos import commit, nest

TOKEN = "ghp-engine-token"
REPO = "acme/env-repo"


@pytest.fixture
def forge() -> Iterator[ForgeSimulator]:
    with ForgeSimulator() as sim:
        sim.add_token(TOKEN)
        sim.add_repository(REPO, reviews=(42,))
        yield sim


def review_head(env_repo: EnvRepo, *, replicas: int) -> str:
    """Push the environment with the web app scaled, as pull request 42's head."""
    env_repo.initial()
    files = dict(env_repo.files)
    files[f"{env_repo.base}/{WEB}"] = web_yaml(replicas=replicas).encode()
    head = commit(env_repo.remote, nest(files), branch="pr")
    env_repo.remote.references.create("refs/pull/42/head", head, force=True)
    return head


def engine_for(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeAccess | None
) -> Engine:
    mirror = RepositoryMirror(
        f"file://{env_repo.remote_dir}", cache_dir=tmp_path / "review-cache",
        extra_refspecs=REVIEW_REFSPECS,
    )  # fmt: skip
    source = Source(REPO, mirror, "acme", ("prod",), webhook_secrets=(payloads.SECRET,))
    settings = EngineSettings(workers=0, drift_schedule=False, forge=forge)
    return Engine(store, fake_sites(world), [source], settings=settings)


def post_pull_request(engine: Engine, store: Store, head: str) -> None:
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog),
    )  # fmt: skip
    body = payloads.github_pull_request()
    body["pull_request"]["head"]["sha"] = head
    signed = payloads.github("pull_request", body)
    with running_in_thread(app, port=free_port()) as url:
        answer = httpx.post(f"{url}/webhooks/github", content=signed.body, headers=signed.headers)
    assert answer.status_code == 202, answer.text


def preview_once(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> tuple[Engine, str]:
    """An engine posting to ``forge`` that previewed pull request 42 once; and its head."""
    head = review_head(env_repo, replicas=5)
    engine = engine_for(store, world, env_repo, tmp_path, ForgeAccess("github", TOKEN, forge.url))
    post_pull_request(engine, store, head)
    assert engine.worker("w").step()
    return engine, head


def test_a_signed_pull_request_gets_a_sticky_comment_and_a_status_on_the_forge(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> None:
    engine, head = preview_once(store, world, env_repo, tmp_path, forge)
    assert not engine.worker("w").step()  # one preview per review, not one per environment
    [comment] = forge.comments(REPO, 42)
    assert comment.body.startswith("<!-- rxt:plan acme/prod -->")
    assert head[:12] in comment.body
    assert [s.state for s in forge.statuses(head)] == ["pending", "success"]
    assert world.writes == 0
    with store.database.read() as session:
        assert list(session.scalars(select(LeaseRow.name))) == []  # planned under no lease


def test_the_previewed_plan_is_kept_in_the_state_store_for_the_merge(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> None:
    engine, head = preview_once(store, world, env_repo, tmp_path, forge)
    engine.stop()
    [comment] = forge.comments(REPO, 42)
    kept = store.previews.latest("acme", "prod", repository=REPO, number=42)
    assert kept is not None
    assert (kept.head_commit, kept.comment_id) == (head, comment.id)
    assert kept.plan_id.rpartition(":")[2] in comment.body


def test_each_posted_plan_is_stored_as_a_preview_and_audited_without_moving_the_branch(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> None:
    _engine, head = preview_once(store, world, env_repo, tmp_path, forge)
    [comment] = forge.comments(REPO, 42)
    with store.database.read() as session:
        [(plan_id, kind, planned)] = session.execute(
            select(PlanRow.id, PlanRow.kind, PlanRow.commit)
        ).all()
        revisions = list(session.scalars(select(RevisionRow.commit)))
    assert (kind, planned) == ("preview", head)
    assert plan_id.rpartition(":")[2] in comment.body  # the plan the comment shows
    entries = store.audit.entries(LogFilter(tenant="acme"))
    audited = [e.fields for e in entries if e.fields.action == "plan.computed"]
    assert [(json.loads(f.details)["kind"], f.plan_id, f.commit) for f in audited] == [
        ("preview", plan_id, head)
    ]
    assert head not in revisions  # a review's head is not the branch's newest commit


def test_a_new_head_edits_the_same_comment(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> None:
    engine = engine_for(store, world, env_repo, tmp_path, ForgeAccess("github", TOKEN, forge.url))
    first = review_head(env_repo, replicas=5)
    post_pull_request(engine, store, first)
    assert engine.worker("w").step()
    second = review_head(env_repo, replicas=7)
    post_pull_request(engine, store, second)
    assert engine.worker("w").step()
    [comment] = forge.comments(REPO, 42)
    assert second[:12] in comment.body
    assert [s.state for s in forge.statuses(second)] == ["pending", "success"]


def test_without_a_forge_the_preview_is_stored_and_nothing_is_posted(
    store: Store, world: FakeWorld, env_repo: EnvRepo, tmp_path: Path, forge: ForgeSimulator
) -> None:
    head = review_head(env_repo, replicas=5)
    engine = engine_for(store, world, env_repo, tmp_path, None)
    post_pull_request(engine, store, head)
    assert engine.worker("w").step()
    with store.database.read() as session:
        assert list(session.scalars(select(PlanRow.kind))) == ["preview"]
        assert head not in list(session.scalars(select(RevisionRow.commit)))
    assert forge.comments(REPO, 42) == []
    assert forge.statuses(head) == []


@pytest.mark.parametrize(
    ("section", "environ", "token"),
    [
        ({"provider": "github", "token": "ghp-in-file"}, {}, "ghp-in-file"),
        ({"provider": "gitlab", "token_env": "RXT_TEST_FORGE"}, {"RXT_TEST_FORGE": "glpat-x"},
         "glpat-x"),
    ],
)  # fmt: skip
def test_the_forge_section_gives_the_token_from_the_file_or_the_environment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    section: dict[str, str],
    environ: dict[str, str],
    token: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = parse_config({"cache_dir": str(tmp_path), "forge": section})
    access = ForgeAccess.configured(config.forge)
    assert access is not None
    assert (access.provider, access.token) == (section["provider"], token)


@pytest.mark.parametrize(
    "section",
    [{"provider": "github"}, {"provider": "github", "token_env": "RXT_TEST_UNSET_FORGE"}],
)
def test_a_forge_without_a_token_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: dict[str, str]
) -> None:
    monkeypatch.delenv("RXT_TEST_UNSET_FORGE", raising=False)
    config = parse_config({"cache_dir": str(tmp_path), "forge": section})
    with pytest.raises(ConfigError, match="forge \\(github\\): no token"):
        ForgeAccess.configured(config.forge)


def test_an_unknown_forge_provider_is_refused_when_the_file_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"forge\.provider"):
        parse_config({"cache_dir": str(tmp_path), "forge": {"provider": "bitbucket"}})
