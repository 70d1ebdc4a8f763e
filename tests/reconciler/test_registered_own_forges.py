"""A registered repository that names its own forge has its merge request previews posted there
with the tenant's token, read from a real OpenBao dev server under the tenant's mount, while the
engine has no forge of its own; a missing token skips the registration, a forge address the
URL rules refuse by the time a review comes is not sent the token, and a deletion or a cleared
forge stops the posting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from typing import Any

import httpx
import hvac
import pytest
from structlog.testing import capture_logs

from reconciler.wiring.registered import repository_name
from rxt.api.serving import running_in_thread
from rxt.api.urls import GuardedTransport, UrlPolicy
from simulators.github import ForgeSimulator
from state.access import Role
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.envrepo import WEB, web_yaml
from tests.reconciler.gitrepos import commit, nest

# The fixtures below come from test_registered, so their parameters shadow the imports.
# ruff: noqa: F401, F811
from tests.reconciler.test_registered import (
    HOOK_VALUE,
    Stage,
    admin,
    app_of,
    bao,
    stage,
    write,
)

TENANT_TOKEN = "glpat-acme-own-token"
REVIEW = 42


@pytest.fixture
def forge(stage: Stage) -> Iterator[ForgeSimulator]:
    with ForgeSimulator() as sim:
        sim.add_token(TENANT_TOKEN, login="acme-bot")
        sim.add_repository(repository_name(stage.url), reviews=(REVIEW,))
        yield sim


def registered(stage: Stage, forge: ForgeSimulator, admin: hvac.Client) -> dict[str, Any]:
    """The body registering the stage's repository with its own GitLab forge; the operator
    allowed the fake forge's loopback port, as it would a private forge host."""
    host = httpx.URL(forge.url)
    urls = UrlPolicy.of(schemes=("https", "http", "file"),
                        allowed_hosts=[f"{host.host}:{host.port}"])  # fmt: skip
    stage.api = replace(stage.api, urls=urls)
    write(admin, "acme", stage.hook_path, secret=HOOK_VALUE)
    write(admin, "acme", f"{stage.hook_path}-forge", token=TENANT_TOKEN)
    ref = {"path": f"{stage.hook_path}-forge", "key": "token"}
    return stage.body(forge={"provider": "gitlab", "apiUrl": forge.gitlab_url, "tokenRef": ref})


def review_head(stage: Stage) -> str:
    """Push the environment, then merge request 42's head with the web app scaled."""
    stage.repo.initial()
    files = dict(stage.repo.files)
    files[f"{stage.repo.base}/{WEB}"] = web_yaml(replicas=5).encode()
    head = commit(stage.repo.remote, nest(files), branch="feature")
    stage.repo.remote.references.create(f"refs/merge-requests/{REVIEW}/head", head, force=True)
    return head


def merge_request(base: str, stage: Stage, head: str) -> httpx.Response:
    body = payloads.gitlab_merge_request()
    body["object_attributes"].update({"iid": REVIEW, "last_commit": {"id": head}})
    body["project"] = {**payloads.GITLAB_PROJECT, "path_with_namespace": repository_name(stage.url)}
    signed = payloads.gitlab("Merge Request Hook", body, secret=HOOK_VALUE)
    return httpx.post(f"{base}/webhooks/gitlab", content=signed.body, headers=signed.headers)


def deployer(stage: Stage) -> dict[str, str]:
    issued = stage.api.tokens.issue("acme", role=Role.DEPLOYER, name="ci")
    return {"Authorization": f"Bearer {issued.secret}"}


def register_and_preview(stage: Stage, body: dict[str, Any], head: str) -> None:
    """Register ``body`` through the API, adopt it, deliver merge request 42 at ``head`` and
    let a worker run every item that queued."""
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(f"{base}/api/v1/repositories", json=body, headers=deployer(stage))
        assert answer.status_code == 201, answer.text
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        assert merge_request(base, stage, head).status_code == 202
    worker = stage.engine.worker("w")
    while worker.step():
        pass


def test_a_registered_repositorys_preview_is_posted_with_the_tenants_token_from_vault(
    stage: Stage,
    forge: ForgeSimulator,
    admin: hvac.Client,
) -> None:
    assert stage.engine.settings.forge is None
    assert not stage.engine.forges.configured()
    body = registered(stage, forge, admin)
    head = review_head(stage)
    register_and_preview(stage, body, head)
    [note] = forge.comments(repository_name(stage.url), REVIEW)
    assert note.author == "acme-bot"
    assert note.body.startswith("<!-- rxt:plan acme/prod -->")
    assert [s.state for s in forge.statuses(head)] == ["pending", "success"]
    assert {call.provider for call in forge.calls()} == {"gitlab"}


def test_a_forge_address_refused_by_the_time_a_review_comes_gets_no_token(
    stage: Stage,
    forge: ForgeSimulator,
    admin: hvac.Client,
) -> None:
    """The operator's allowance for the forge's host is gone when the review comes (as when its
    name now resolves to a private address): the preview fails, naming the repository, and the
    forge is sent nothing, the token included."""
    body = registered(stage, forge, admin)
    head = review_head(stage)
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(f"{base}/api/v1/repositories", json=body, headers=deployer(stage))
        assert answer.status_code == 201, answer.text
        stage.refresher.url_check = partial(UrlPolicy.of().check, what="forge API URL")
        assert stage.refresher.refresh() == [repository_name(stage.url)]
        assert merge_request(base, stage, head).status_code == 202
    with capture_logs() as logs:
        worker = stage.engine.worker("w")
        while worker.step():
            pass
    [failed] = [e for e in logs if e["event"] == "work.failed" and e["kind"] == "preview"]
    assert f"repository {repository_name(stage.url)}: its forge API is refused" in failed["error"]
    assert "loopback" in failed["error"]
    assert forge.calls() == []


def test_a_registered_forge_is_reached_at_the_address_its_check_resolved(
    stage: Stage,
    forge: ForgeSimulator,
    admin: hvac.Client,
) -> None:
    """The forge is registered under a name only the engine's resolver knows (a lab forge the
    operator allowed private addresses for): its requests connect to the address that resolver
    gave, as the guarded transport does; the system resolver could not have found it."""
    body = registered(stage, forge, admin)
    lab = UrlPolicy.of(
        allow_private_networks=True, schemes=("https", "http", "file"),
        resolver=lambda host: ["127.0.0.1"] if host == "forge.lab.test" else [],
    )  # fmt: skip
    stage.api = replace(stage.api, urls=lab)
    port = httpx.URL(forge.url).port
    body["forge"]["apiUrl"] = f"http://forge.lab.test:{port}/api/v4"
    stage.refresher.url_check = partial(lab.check, what="forge API URL")
    stage.refresher.guarded = partial(GuardedTransport, lab)
    head = review_head(stage)
    register_and_preview(stage, body, head)
    [note] = forge.comments(repository_name(stage.url), REVIEW)
    assert note.author == "acme-bot"
    assert [s.state for s in forge.statuses(head)] == ["pending", "success"]


def test_a_missing_forge_token_skips_the_registration_until_it_is_written(
    stage: Stage,
    forge: ForgeSimulator,
    admin: hvac.Client,
) -> None:
    body = registered(stage, forge, admin)
    body["forge"]["tokenRef"]["path"] += "-not-written"
    stage.repo.initial()
    with running_in_thread(app_of(stage), port=free_port()) as base:
        answer = httpx.post(f"{base}/api/v1/repositories", json=body, headers=deployer(stage))
        assert answer.status_code == 201, answer.text
    assert stage.refresher.refresh() == []
    assert repository_name(stage.url) not in stage.engine.sources
    write(admin, "acme", body["forge"]["tokenRef"]["path"], token=TENANT_TOKEN)
    assert stage.refresher.refresh() == [repository_name(stage.url)]
    access = stage.engine.forges.of(repository_name(stage.url))
    assert access is not None
    assert access.token == TENANT_TOKEN


def test_a_cleared_forge_or_a_deleted_registration_stops_the_repositorys_posting(
    stage: Stage,
    forge: ForgeSimulator,
    admin: hvac.Client,
) -> None:
    body = registered(stage, forge, admin)
    stage.repo.initial()
    name = repository_name(stage.url)
    with running_in_thread(app_of(stage), port=free_port()) as base:
        headers = deployer(stage)
        answer = httpx.post(f"{base}/api/v1/repositories", json=body, headers=headers)
        path = f"{base}/api/v1/repositories/{answer.json()['id']}"
        stage.refresher.refresh()
        assert stage.engine.forges.of(name) is not None
        assert httpx.patch(path, json={"forge": None}, headers=headers).status_code == 200
        assert stage.refresher.refresh() == [name]
        assert stage.engine.forges.of(name) is None
        assert httpx.patch(path, json={"forge": body["forge"]}, headers=headers).status_code == 200
        stage.refresher.refresh()
        assert stage.engine.forges.of(name) is not None
        issued = stage.api.tokens.issue("acme", role=Role.ADMIN, name="owner")
        owner = {"Authorization": f"Bearer {issued.secret}"}
        assert httpx.delete(path, headers=owner).status_code == 200
    assert stage.refresher.refresh() == [name]
    assert stage.engine.forges.of(name) is None
