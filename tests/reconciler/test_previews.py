"""Pull and merge request previews end to end: the example repository in real Git, the fake
driver world observed, the fake GitHub and GitLab commented on."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
import pytest

from core.errors import NotFound
from core.resources import Action, ObservedResource
from drivers.fake import FakeWorld
from planner.loading import LoadedEnvironment
from planner.plans import Plan, plan_environment
from planner.views.markdown import LIMIT
from reconciler.forges import GitHubReview, GitLabReview
from reconciler.mirrors import RepositoryMirror
from reconciler.previews import (
    MemoryLedger,
    Previewer,
    PreviewLedger,
    ReviewHead,
    StoredLedger,
    comment_replanned,
    settle_merge,
)
from reconciler.scoping import TenantScope
from reconciler.sites import Sites, load_at
from simulators.github import ForgeSimulator
from simulators.kubernetes import FakeApiServer
from simulators.nsx import NsxSimulator
from state.access import Grants
from state.store import Store
from tests.reconciler.gitrepos import commit, make_remote, nest
from tests.simulators.github.conftest import PROJECT_ID, REPO, TOKEN, forge

__all__ = ["forge"]
EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"
STAGING = "environments/staging"
WEB = f"{STAGING}/apps/web/deploy.yaml"


class ExampleRepo:
    """The example repository as a bare remote with a main branch and review branches."""

    def __init__(self, folder: Path) -> None:
        self.remote = make_remote(folder / "remote")
        self.main = {
            str(p.relative_to(EXAMPLE)): p.read_bytes() for p in sorted(EXAMPLE.rglob("*.yaml"))
        }
        self.mirror = RepositoryMirror(f"file://{folder / 'remote'}", cache_dir=folder / "cache")
        self.base = self.push("main", self.main)

    def push(self, branch: str, files: Mapping[str, bytes]) -> str:
        made = commit(self.remote, nest(dict(files)), branch=branch)
        self.mirror.fetch()
        return made

    def review(self, branch: str, edits: Mapping[str, Callable[[str], str]]) -> str:
        """Push ``main`` with each file in ``edits`` rewritten, on ``branch``."""
        files = dict(self.main)
        for path, edit in edits.items():
            files[path] = edit(files.get(path, b"").decode()).encode()
        self.files = files
        return self.push(branch, files)


def replicas(count: int) -> Callable[[str], str]:
    return lambda text: text.replace("replicas: 1", f"replicas: {count}")


def relabel(text: str) -> str:
    return text.replace("labels: {team: storefront}", "labels: {team: storefront, tier: front}")


def no_tls(text: str) -> str:
    return text.replace("tls: true", "tls: false")


@pytest.fixture
def repo(tmp_path: Path) -> ExampleRepo:
    return ExampleRepo(tmp_path)


@pytest.fixture
def github(forge: ForgeSimulator) -> Iterator[GitHubReview]:
    forge.add_repository(REPO, reviews=(7,))
    with GitHubReview(REPO, 7, token=TOKEN, base_url=forge.url) as review:
        yield review


def previewer(
    repo: ExampleRepo, world: FakeWorld, ledger: PreviewLedger | None = None
) -> Previewer:
    return Previewer(
        "acme", source=repo.mirror, observe=world.drivers(), ledger=ledger or MemoryLedger()
    )


def comment_writes(sim: ForgeSimulator) -> list[str]:
    return [
        c.method
        for c in sim.calls()
        if c.method in ("POST", "PATCH", "PUT") and "statuses" not in c.path
    ]


def test_a_preview_comment_is_posted_then_edited_in_place_on_the_next_push(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    world = FakeWorld()
    first = repo.review("pr-7", {WEB: replicas(2)})
    previewer(repo, world).preview(ReviewHead(REPO, 7, first, repo.base), github)
    second = repo.review("pr-7", {WEB: replicas(3)})
    previews = previewer(repo, world).preview(ReviewHead(REPO, 7, second, repo.base), github)

    comments = forge.comments(REPO, 7)
    assert [p.environment for p in previews] == ["staging"]
    assert len(comments) == 1
    assert comment_writes(forge) == ["POST", "PATCH"]
    body = comments[0].body
    assert body.startswith("<!-- rxt:plan acme/staging -->")
    assert second[:12] in body
    assert "<details>" in body
    assert body.index("| platform |") < body.index("<details>")
    for words in ("**Destructive changes:**", "**Policy:**", "**Monthly cost:**",
                  "**Placement changes:** none"):  # fmt: skip
        assert words in body
    assert [s.state for s in forge.statuses(first)] == ["pending", "success"]
    assert [s.state for s in forge.statuses(second)] == ["pending", "success"]
    assert world.writes == 0


def test_each_touched_environment_gets_its_own_sticky_comment(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    prod_web = WEB.replace("staging", "prod")
    head = repo.review("pr-7", {WEB: relabel, prod_web: relabel})
    previews = previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    markers = sorted(c.body.split("\n")[0] for c in forge.comments(REPO, 7))
    assert sorted(p.environment for p in previews) == ["prod", "staging"]
    assert markers == ["<!-- rxt:plan acme/prod -->", "<!-- rxt:plan acme/staging -->"]


def test_a_policy_denied_preview_sets_failure_naming_the_rule(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    head = repo.review("pr-7", {WEB: no_tls})
    [preview] = previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    final = forge.statuses(head)[-1]
    assert (preview.verdict, final.state, final.context) == ("failure", "failure", "rxt/plan")
    assert "baseline.tls" in final.description
    assert ":x: denied" in forge.comments(REPO, 7)[0].body


def test_invalid_manifests_fail_the_preview_with_the_file_named(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    head = repo.review("pr-7", {WEB: lambda text: text.replace("replicas: 1", "replicas: many")})
    previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    body = forge.comments(REPO, 7)[0].body
    assert forge.statuses(head)[-1].state == "failure"
    assert "the manifests are invalid" in body
    assert "apps/web/deploy.yaml" in body
    assert "Traceback" not in body


def test_a_placement_change_is_named_in_the_summary(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    api = f"{STAGING}/apps/api/deploy.yaml"
    assert b"placement" not in repo.main[api], "the example api app is expected on the default"
    head = repo.review("pr-7", {api: lambda t: t + "  placement: {target: vm}\n"})
    previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert "**Placement changes:** 1: `api` kubernetes → vm" in forge.comments(REPO, 7)[0].body


def observe_sources(world: FakeWorld) -> dict[str, Any]:
    sites = Sites()
    for platform, driver in world.drivers().items():
        sites.add(platform, driver)
    return {
        "sites": sites,
        "drivers by platform": world.drivers(),
        "list of drivers": list(world.drivers().values()),
        "observe callable": sites.observe,
    }


@pytest.mark.parametrize(
    "kind", ["sites", "drivers by platform", "list of drivers", "observe callable"]
)
def test_every_way_of_observing_gives_the_same_plan_and_writes_nothing(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview, kind: str
) -> None:
    world = FakeWorld()
    head = repo.review("pr-7", {WEB: replicas(2)})
    source = observe_sources(world)[kind]
    made = Previewer("acme", source=repo.mirror, observe=source, ledger=MemoryLedger())
    [preview] = made.preview(ReviewHead(REPO, 7, head, repo.base), github)
    expected = plan_at(repo, head, world)
    assert preview.plan is not None
    assert preview.plan.id == expected.id
    assert world.writes == 0


def plan_at(repo: ExampleRepo, sha: str, world: FakeWorld) -> Plan:
    """The plan the reconcile loop computes for ``sha``, observing ``world``."""
    view = load_at(repo.mirror.tree_at(sha), "staging")
    observed = observer(world)(view)
    return plan_environment(view, observed, commit=sha)


def observer(world: FakeWorld) -> Callable[[LoadedEnvironment], list[ObservedResource]]:
    sites = Sites()
    for platform, driver in world.drivers().items():
        sites.add(platform, driver)
    return sites.observe


def change_platform(world: FakeWorld, plan: Plan) -> None:
    """Someone creates one of the planned objects by hand (with our marker) before the merge."""
    change = plan.changes[0]
    assert change.desired is not None
    world.drivers()[change.ref.platform].apply(change)


def move_base(repo: ExampleRepo) -> None:
    """Another review merges first: the merge commit carries its change too."""
    db = f"{STAGING}/apps/db/deploy.yaml"
    assert b"size: 20Gi" in repo.files[db]
    repo.files[db] = repo.files[db].replace(b"size: 20Gi", b"size: 30Gi")


def nothing(repo: ExampleRepo, world: FakeWorld, plan: Plan) -> None:
    """Nobody touches anything between the preview and the merge."""


def platform_changed(repo: ExampleRepo, world: FakeWorld, plan: Plan) -> None:
    change_platform(world, plan)


def base_moved(repo: ExampleRepo, world: FakeWorld, plan: Plan) -> None:
    move_base(repo)


@dataclass(frozen=True)
class Merge:
    meanwhile: Callable[[ExampleRepo, FakeWorld, Plan], None]
    matches: bool
    why: str


MERGES = [
    pytest.param(Merge(nothing, True, ""), id="nothing moved"),
    pytest.param(
        Merge(platform_changed, False, "the platforms changed since the preview"),
        id="the platform changed",
    ),
    pytest.param(Merge(base_moved, False, "differ from the previewed head"), id="the base moved"),
]


@pytest.mark.parametrize("merge", MERGES)
def test_a_merge_applies_the_previewed_plan_only_if_it_still_matches(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview, merge: Merge
) -> None:
    matches = merge.matches
    world, ledger = FakeWorld(), MemoryLedger()
    head = repo.review("pr-7", {WEB: replicas(2)})
    [preview] = previewer(repo, world, ledger).preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert preview.plan is not None
    merge.meanwhile(repo, world, preview.plan)
    merged = repo.push("main", repo.files)  # a merge commit: a new id, maybe the same tree

    plan = plan_at(repo, merged, world)
    verdict = settle_merge(plan, repository=REPO, number=7, ledger=ledger, review=github)

    assert (verdict.matches, merged != head) == (matches, True)
    assert merge.why in verdict.reason
    body = forge.comments(REPO, 7)[0].body
    assert ("Planned again on merge" in body) is not matches
    assert (plan.id in body) is not matches
    assert len(forge.comments(REPO, 7)) == 1


def test_the_stored_ledger_keeps_the_preview_as_the_memory_ledger_does(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview, store: Store
) -> None:
    world = FakeWorld()
    ledgers: list[PreviewLedger] = [MemoryLedger(), StoredLedger(store.previews)]
    head = repo.review("pr-7", {WEB: replicas(2)})
    for ledger in ledgers:
        previewer(repo, world, ledger).preview(ReviewHead(REPO, 7, head, repo.base), github)
    memory, stored = (
        ledger.latest("acme", "staging", repository=REPO, number=7) for ledger in ledgers
    )
    assert stored is not None
    assert stored == memory
    assert StoredLedger(store.previews).latest("acme", "prod", repository=REPO, number=7) is None


def test_a_held_merge_comment_says_how_to_approve_the_new_plan(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    plan = plan_at(repo, repo.base, FakeWorld())
    comment_replanned(
        plan, review=github, reason="the policies changed since the preview", held=True
    )
    body = forge.comments(REPO, 7)[0].body
    stored = plan.id.rpartition(":")[2]
    assert body.startswith("<!-- rxt:plan acme/staging -->")
    notice = body.index("Planned again on merge:** the policies changed since the preview")
    assert (
        notice < body.index(f"`POST /api/v1/plans/{stored}/approvals`") < body.index("| platform |")
    )
    assert len(body) <= LIMIT


def test_a_merge_without_a_recorded_preview_is_planned_afresh(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    plan = plan_at(repo, repo.base, FakeWorld())
    verdict = settle_merge(plan, repository=REPO, number=7, ledger=MemoryLedger(), review=github)
    assert (verdict.matches, verdict.reason) == (False, "no preview was recorded for this review")
    assert forge.calls() == []


def bulk_app(web: str, name: str) -> Callable[[str], str]:
    """A copy of the web app under another name, host and no dependencies."""
    text = web.replace("name: web", f"name: {name}").replace("www.staging", f"{name}.staging")
    return lambda _old: text.replace("dependsOn: [api]", "")


def test_a_huge_plan_stays_under_the_limit_with_a_truncation_note(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    web = repo.main[WEB].decode()
    edits = {
        f"{STAGING}/apps/bulk-{n:03}/deploy.yaml": bulk_app(web, f"bulk-{n:03}") for n in range(150)
    }
    head = repo.review("pr-7", edits)
    [preview] = previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    body = forge.comments(REPO, 7)[0].body
    assert preview.plan is not None
    assert len(preview.plan.changes) > 300
    assert len(body) <= LIMIT
    assert "Truncated:" in body
    assert "rxt plan --output json" in body
    assert body.rstrip().endswith("</sub>")


def test_the_gitlab_path_keeps_one_note_and_maps_the_verdict(
    repo: ExampleRepo, forge: ForgeSimulator
) -> None:
    project = "acme/gl-envs"
    forge.add_repository(project, reviews=(3,), project_id=PROJECT_ID)
    world = FakeWorld()
    with GitLabReview(PROJECT_ID, 3, token=TOKEN, base_url=forge.gitlab_url) as review:
        first = repo.review("mr-3", {WEB: replicas(2)})
        previewer(repo, world).preview(ReviewHead(project, 3, first, repo.base), review)
        second = repo.review("mr-3", {WEB: no_tls})
        previewer(repo, world).preview(ReviewHead(project, 3, second, repo.base), review)
    writes = [
        c.method for c in forge.calls(provider="gitlab") if "/notes" in c.path and c.method != "GET"
    ]
    assert writes == ["POST", "PUT"]
    assert len(forge.comments(project, 3)) == 1
    assert [s.state for s in forge.statuses(first)] == ["pending", "success"]
    assert [s.state for s in forge.statuses(second)] == ["pending", "failed"]


def test_a_review_that_touches_no_environment_says_so(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    head = repo.review("pr-7", {"README.yaml": lambda _t: "note: docs only\n"})
    previews = previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert previews == []
    assert forge.comments(REPO, 7) == []
    assert forge.statuses(head)[-1].description == "no environment is changed by this review"


def test_the_example_repository_is_a_real_git_repository(repo: ExampleRepo) -> None:
    assert isinstance(repo.remote, pygit2.Repository)
    assert repo.remote.is_bare
    assert repo.mirror.head("main") == repo.base


def test_a_forge_failure_mid_preview_ends_the_status_in_error_not_pending(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    head = repo.review("pr-7", {WEB: replicas(2)})
    forge.inject(404, times=1, path=f"/repos/{REPO}/issues/7/comments")
    with pytest.raises(NotFound):
        previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    final = forge.statuses(head)[-1]
    assert (final.state, final.description.startswith("preview failed: GitHub refused")) == (
        "error",
        True,
    )


def test_an_environment_naming_another_tenant_is_not_planned(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    env = f"{STAGING}/environment.yaml"
    head = repo.review("pr-7", {env: lambda text: text.replace("tenant: acme", "tenant: globex")})
    [preview] = previewer(repo, FakeWorld()).preview(ReviewHead(REPO, 7, head, repo.base), github)
    body = forge.comments(REPO, 7)[0].body
    assert (preview.verdict, preview.plan) == ("failure", None)
    assert "names tenant 'globex', but this repository belongs to tenant 'acme'" in body
    assert forge.statuses(head)[-1].state == "failure"


@dataclass(frozen=True)
class Simulators:
    sites: Sites
    kube: FakeApiServer
    nsx: NsxSimulator

    def writes(self) -> tuple[int, int]:
        verbs = ("POST", "PUT", "PATCH", "DELETE")
        kube = sum(self.kube.calls(method=verb) for verb in verbs)
        return kube, sum(self.nsx.calls(verb) for verb in verbs)


@pytest.fixture
def simulators(sim_sites: Sites, kube_server: FakeApiServer, nsx_sim: NsxSimulator) -> Simulators:
    return Simulators(sim_sites, kube_server, nsx_sim)


@pytest.mark.slow
def test_a_preview_on_the_simulators_reads_the_platforms_and_writes_nothing(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview, simulators: Simulators
) -> None:
    head = repo.review("pr-7", {WEB: replicas(2)})
    made = Previewer("acme", source=repo.mirror, observe=simulators.sites, ledger=MemoryLedger())
    before, reads = simulators.writes(), simulators.kube.calls(method="GET")
    [preview] = made.preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert preview.plan is not None
    assert preview.plan.count(Action.CREATE) > 0
    assert simulators.kube.calls(method="GET") > reads
    assert simulators.writes() == before
    assert forge.statuses(head)[-1].state == "success"


def test_a_registered_repositorys_preview_reaching_outside_the_tenant_is_refused(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview, store: Store
) -> None:
    """A tenant's own repository cannot preview (and so read into a comment) another tenant's
    namespace: the fence checks every previewed head, not just the registered manifest."""
    Grants(store.database).grant("acme", ("sddc-dfw", "nsx-dfw", "spot-dfw"))
    env = f"{STAGING}/environment.yaml"
    head = repo.review(
        "pr-7", {env: lambda text: text.replace("namespace: acme-staging", "namespace: globex")}
    )
    fenced = Previewer(
        "acme", source=repo.mirror, observe=FakeWorld().drivers(), ledger=MemoryLedger(),
        fence=TenantScope(store.database, "acme"),
    )  # fmt: skip
    [preview] = fenced.preview(ReviewHead(REPO, 7, head, repo.base), github)
    body = forge.comments(REPO, 7)[0].body
    assert (preview.verdict, preview.plan) == ("failure", None)
    assert "reaches outside tenant acme" in body
    assert "spec.sites.kubernetes.namespace 'globex' is not acme-*" in body


def test_a_fenced_preview_within_the_tenant_is_planned(
    repo: ExampleRepo, github: GitHubReview, store: Store
) -> None:
    Grants(store.database).grant("acme", ("sddc-dfw", "nsx-dfw", "spot-dfw"))
    head = repo.review("pr-7", {WEB: replicas(2)})
    fenced = Previewer(
        "acme", source=repo.mirror, observe=FakeWorld().drivers(), ledger=MemoryLedger(),
        fence=TenantScope(store.database, "acme"),
    )  # fmt: skip
    [preview] = fenced.preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert (preview.verdict, preview.plan is not None) == ("success", True)


def test_only_environments_the_engine_follows_are_previewed(
    repo: ExampleRepo, forge: ForgeSimulator, github: GitHubReview
) -> None:
    prod_web = WEB.replace("staging", "prod")
    head = repo.review("pr-7", {WEB: relabel, prod_web: relabel})
    following = Previewer(
        "acme", source=repo.mirror, observe=FakeWorld().drivers(), ledger=MemoryLedger(),
        followed=("staging",),
    )  # fmt: skip
    previews = following.preview(ReviewHead(REPO, 7, head, repo.base), github)
    assert [p.environment for p in previews] == ["staging"]
    assert [c.body.split("\n")[0] for c in forge.comments(REPO, 7)] == [
        "<!-- rxt:plan acme/staging -->"
    ]
