"""Per-repository forges: a repository with its own ``forge`` section has its previews posted
there with its own token, the others on the engine-wide forge; the configuration file reads
the section and ``registrations_refresh_seconds``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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
from state.store import Store
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.conftest import fake_sites
from tests.reconciler.envrepo import WEB, EnvRepo, web_yaml
from tests.reconciler.gitrepos import commit, nest

SHARED, OWN = "ghp-engine-wide", "ghp-team-own"
SHARED_REPO, OWN_REPO = "acme/env-repo", "acme/team-repo"


@pytest.fixture
def forge() -> Iterator[ForgeSimulator]:
    with ForgeSimulator() as sim:
        sim.add_token(SHARED, login="engine-bot")
        sim.add_token(OWN, login="team-bot")
        sim.add_repository(SHARED_REPO, reviews=(42,))
        sim.add_repository(OWN_REPO, reviews=(42,))
        yield sim


def review_head(repo: EnvRepo) -> str:
    """Push the environment, then pull request 42's head with the web app scaled."""
    repo.initial()
    files = dict(repo.files)
    files[f"{repo.base}/{WEB}"] = web_yaml(replicas=5).encode()
    head = commit(repo.remote, nest(files), branch="pr")
    repo.remote.references.create("refs/pull/42/head", head, force=True)
    return head


def source(name: str, repo: EnvRepo, cache: Path) -> Source:
    mirror = RepositoryMirror(
        f"file://{repo.remote_dir}", cache_dir=cache, extra_refspecs=REVIEW_REFSPECS
    )
    return Source(name, mirror, "acme", (repo.name,), webhook_secrets=(payloads.SECRET,))


def post_pull_request(engine: Engine, store: Store, *, repository: str, head: str) -> None:
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog),
    )  # fmt: skip
    body = payloads.github_pull_request()
    body["pull_request"]["head"]["sha"] = head
    body["repository"] = {**payloads.GITHUB_REPO, "full_name": repository}
    signed = payloads.github("pull_request", body)
    with running_in_thread(app, port=free_port()) as url:
        answer = httpx.post(f"{url}/webhooks/github", content=signed.body, headers=signed.headers)
    assert answer.status_code == 202, answer.text


def test_a_repository_with_its_own_forge_posts_there_and_the_others_on_the_engine_wide_one(
    store: Store, world: FakeWorld, tmp_path: Path, forge: ForgeSimulator
) -> None:
    prod = EnvRepo(tmp_path / "prod", tmp_path / "c1")
    staging = EnvRepo(
        tmp_path / "staging", tmp_path / "c2", name="staging", namespace="acme-staging",
        folder="acme-staging",
    )  # fmt: skip
    heads = {SHARED_REPO: review_head(prod), OWN_REPO: review_head(staging)}
    settings = EngineSettings(
        workers=0, drift_schedule=False, forge=ForgeAccess("github", SHARED, forge.url),
        forges={OWN_REPO: ForgeAccess("github", OWN, forge.url)},
    )  # fmt: skip
    sources = [
        source(SHARED_REPO, prod, tmp_path / "m1"),
        source(OWN_REPO, staging, tmp_path / "m2"),
    ]
    engine = Engine(store, fake_sites(world), sources, settings=settings)
    for repository, head in heads.items():
        post_pull_request(engine, store, repository=repository, head=head)
        assert engine.worker("w").step()
    [shared] = forge.comments(SHARED_REPO, 42)
    [own] = forge.comments(OWN_REPO, 42)
    assert (shared.author, own.author) == ("engine-bot", "team-bot")
    assert own.body.startswith("<!-- rxt:plan acme/staging -->")
    assert [s.state for s in forge.statuses(heads[OWN_REPO])] == ["pending", "success"]


def test_without_an_engine_wide_forge_only_the_repository_with_its_own_forge_is_posted(
    store: Store, world: FakeWorld, tmp_path: Path, forge: ForgeSimulator
) -> None:
    prod = EnvRepo(tmp_path / "prod", tmp_path / "c1")
    head = review_head(prod)
    settings = EngineSettings(
        workers=0, drift_schedule=False, forges={OWN_REPO: ForgeAccess("github", OWN, forge.url)}
    )
    engine = Engine(store, fake_sites(world), [source(SHARED_REPO, prod, tmp_path / "m")],
                    settings=settings)  # fmt: skip
    post_pull_request(engine, store, repository=SHARED_REPO, head=head)
    assert engine.worker("w").step()
    assert forge.comments(SHARED_REPO, 42) == []
    assert forge.calls() == []


def test_the_configuration_reads_a_per_repository_forge_and_the_refresh_interval(
    store: Store, tmp_path: Path
) -> None:
    document = {
        "cache_dir": str(tmp_path),
        "registrations_refresh_seconds": 5,
        "forge": {"provider": "github", "token": SHARED},
        "repositories": [
            {"url": "https://git.example.com/acme/env-repo.git", "name": SHARED_REPO,
             "tenant": "acme", "environments": ["prod"]},
            {"url": "https://gitlab.example.com/acme/team-repo.git", "name": OWN_REPO,
             "tenant": "acme", "environments": ["staging"],
             "forge": {"provider": "gitlab", "api_url": "https://gitlab.example.com/api/v4",
                       "token": OWN}},
        ],
    }  # fmt: skip
    config = parse_config(document)
    assert config.registrations_refresh_seconds == 5
    assert config.repositories[0].forge is None
    engine = Engine.from_config(config, store)
    assert engine.forges.of(SHARED_REPO) == ForgeAccess("github", SHARED)
    assert engine.forges.of(OWN_REPO) == ForgeAccess(
        "gitlab", OWN, "https://gitlab.example.com/api/v4"
    )


def test_registrations_are_refreshed_every_30_seconds_unless_configured(tmp_path: Path) -> None:
    assert parse_config({"cache_dir": str(tmp_path)}).registrations_refresh_seconds == 30
    with pytest.raises(ConfigError, match="registrations_refresh_seconds"):
        parse_config({"cache_dir": str(tmp_path), "registrations_refresh_seconds": -1})


def test_a_repository_forge_without_a_token_stops_the_engine_at_build_naming_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RXT_TEST_UNSET_TEAM_FORGE", raising=False)
    document = {
        "cache_dir": str(tmp_path),
        "repositories": [
            {"url": "https://git.example.com/acme/team-repo.git", "name": OWN_REPO,
             "tenant": "acme", "environments": ["staging"],
             "forge": {"provider": "github", "token_env": "RXT_TEST_UNSET_TEAM_FORGE"}},
        ],
    }  # fmt: skip
    with pytest.raises(ConfigError, match="RXT_TEST_UNSET_TEAM_FORGE"):
        Engine.from_config(parse_config(document), store)
