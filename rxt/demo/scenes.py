"""The demo's five scenes: the first plan and apply, a pull request's preview, the merge and its
apply, a hand-made change caught as drift, and the audit chain verified.

``rxt.demo.story`` plays them in order on a ``Play``; a scene that does not do what it should
raises ``SceneFailed`` naming itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
from kubernetes import client as k8s
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim
from rich.console import Console

from core.errors import RxtError
from planner.plans import Plan, plan_environment
from planner.views.text import render_text
from reconciler.drifting import DriftChecker
from reconciler.forges import GitHubReview
from reconciler.merging import MergeSettler
from reconciler.planning import on_planning_thread
from reconciler.previews import Previewer, ReviewHead, StoredLedger
from reconciler.reconciling import Reconciler, Result, Target
from reconciler.replanning import MergeCheck
from rxt.demo import show
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.stage import FORGE_TOKEN, REPOSITORY, REVIEW, Stage
from state.models import DriftStatus

STAGING = "environments/staging"
WEB = f"{STAGING}/apps/web/deploy.yaml"
API = f"{STAGING}/apps/api/deploy.yaml"
WEB_DIGEST = "d8725a375cc61a22b17ace49052f3686bfd98eb27bd40cfb7e1cdcd6b7f1092c"
NEW_WEB_DIGEST = "5f1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100aa"
RESIZED_CPUS = 8


class SceneFailed(RxtError):
    """A scene of the demo did not do what it should."""


@dataclass
class Play:
    """What the scenes share: the stage, the repository, the engine's parts and the facts
    each scene established (read by the test and the closing summary)."""

    console: Console
    stage: Stage
    repo: DemoRepository
    target: Target
    reconciler: Reconciler
    facts: dict[str, Any] = field(default_factory=dict)

    def ledger(self) -> StoredLedger:
        """The previews' ledger in the state store, as the engine keeps it."""
        return StoredLedger(self.stage.store.previews)


def fail(scene: str, what: str, *, hint: str = "") -> SceneFailed:
    return SceneFailed(f"scene {scene!r}: {what}", hint=hint or "run with RXT_LOG_LEVEL=debug")


def _current_plan(play: Play, commit: str) -> Plan:
    """The plan the engine would make now, without recording it (the apply records its own)."""
    view = play.reconciler.load(play.target, commit)
    sites = play.stage.sites
    observed = sites.observe(view)
    versions = sites.secret_versions(view)
    return on_planning_thread(
        plan_environment, view, observed, commit=commit, secret_versions=versions
    )


def _apply(
    play: Play, commit: str, *, total: int, label: str, merge: MergeCheck | None = None
) -> Result:
    with show.progress_bar(play.console) as progress:
        task = progress.add_task(label, total=max(total, 1))
        play.stage.feed.listener = lambda _done: progress.advance(task)
        try:
            result = play.reconciler.reconcile(play.target, commit, merge=merge)
        finally:
            play.stage.feed.listener = None
        progress.update(task, completed=max(total, 1))
    return result


def first_apply(play: Play) -> None:
    """Scene 1: plan the staging environment on empty platforms and apply it."""
    scene = "first plan and apply"
    head = play.repo.head("main")
    plan = _current_plan(play, head)
    play.console.print(show.placements_table(plan))
    play.console.print(
        render_text(plan, color=play.console.is_terminal and not os.environ.get("NO_COLOR")),
        highlight=False,
    )
    result = _apply(
        play, head, total=len(plan.changes), label="applying to vSphere, NSX, Kubernetes"
    )
    if result.status != "succeeded":
        raise fail(
            scene, f"the apply ended {result.status}: {'; '.join(result.failed) or result.error}"
        )
    view = play.reconciler.load(play.target, head)
    observed = play.stage.sites.observe(view)
    kinds = {(o.ref.platform.value, o.ref.kind) for o in observed}
    needed = {("vsphere", "VirtualMachine"), ("nsx", "Segment"), ("nsx", "LBVirtualServer"),
              ("kubernetes", "Deployment")}  # fmt: skip
    if not needed <= kinds:
        raise fail(scene, f"missing after the apply: {sorted(needed - kinds)}")
    play.console.print(show.platform_table(observed, title="created, per platform"))
    play.facts[scene] = {"plan": plan.id, "run": result.run_id, "changes": len(plan.changes),
                         "applied": result.applied, "objects": len(observed)}  # fmt: skip


def bump_web(text: str) -> str:
    return text.replace(WEB_DIGEST, NEW_WEB_DIGEST)


def scale_api(text: str) -> str:
    return text.replace("replicas: 1", "replicas: 2")


def pull_request(play: Play) -> None:
    """Scene 2: a pull request bumps web's image and scales api; the preview comments on it."""
    scene = "pull request preview"
    base = play.repo.head("main")
    head = play.repo.branch(
        "bump-web-scale-api", {WEB: bump_web, API: scale_api},
        message="Bump web's image, run two api replicas",
    )  # fmt: skip
    stage = play.stage
    previewer = Previewer(
        "acme", source=play.repo.mirror, observe=stage.sites, ledger=play.ledger()
    )
    with GitHubReview(REPOSITORY, REVIEW, token=FORGE_TOKEN, base_url=stage.forge.url) as review:
        previews = previewer.preview(ReviewHead(REPOSITORY, REVIEW, head, base), review)
    comments = stage.forge.comments(REPOSITORY, REVIEW)
    statuses = stage.forge.statuses(head)
    if len(comments) != 1 or [p.environment for p in previews] != ["staging"]:
        raise fail(scene, f"expected one comment for staging, found {len(comments)}")
    plan = previews[0].plan
    if plan is None or {c.ref.name for c in plan.changes} != {"web", "api"}:
        got = sorted(str(c.ref) for c in plan.changes) if plan else "no plan"
        raise fail(scene, f"the preview should change web and api only, it plans {got}")
    play.console.print(show.comment_summary(comments[0].body))
    final = statuses[-1]
    states = " → ".join(s.state for s in statuses)
    play.console.print(f"commit status [bold]{final.context}[/]: {states} ({final.description})")
    if final.state != "success":
        raise fail(scene, f"the commit status is {final.state}: {final.description}")
    play.facts[scene] = {"head": head, "plan": plan.id, "comment": comments[0].id}


def merge(play: Play) -> None:
    """Scene 3: the review is merged; its apply goes ahead only if the previewed plan holds."""
    scene = "merge and apply"
    merged = play.repo.merge("bump-web-scale-api", message=f"Merge pull request #{REVIEW}")
    stage = play.stage

    def open_review(repository: str, number: int) -> GitHubReview:
        return GitHubReview(repository, number, token=FORGE_TOKEN, base_url=stage.forge.url)

    # What `rxt serve` runs for a push: the reconcile settles the merge against the preview.
    settler = MergeSettler(stage.store.previews, graph=play.repo.mirror, open_review=open_review)
    total = len(_current_plan(play, merged).changes)
    result = _apply(play, merged, total=total, label="applying the merge", merge=settler)
    verdict = stage.store.previews.verdict("acme", play.target.environment, merged)
    if verdict is None:
        raise fail(scene, f"the merge commit {merged[:12]} was not matched to review #{REVIEW}")
    if not verdict.matches or result.replanned:
        hint = "nothing should move between the preview and the merge in the demo"
        raise fail(scene, f"the merge was planned again: {verdict.reason}", hint=hint)
    if result.status != "succeeded":
        raise fail(
            scene, f"the apply ended {result.status}: {'; '.join(result.failed) or result.error}"
        )
    play.console.print(
        f"the plan at the merge commit {merged[:12]} is the one previewed on #{verdict.number}: "
        "applied"
    )
    image, replicas = _deployments(play)
    if NEW_WEB_DIGEST not in image or replicas != 2:
        raise fail(scene, f"Kubernetes shows web {image} and api replicas {replicas}")
    play.console.print(f"Kubernetes now runs web [bold]…@{image[-12:]}[/] and api with "
                       f"[bold]{replicas}[/] replicas")  # fmt: skip
    play.facts[scene] = {"commit": merged, "plan": result.plan_id, "matches": verdict.matches}


def _deployments(play: Play) -> tuple[str, int]:
    configuration = k8s.Configuration()
    configuration.host = play.stage.kube.url
    with k8s.ApiClient(configuration) as api:
        apps = k8s.AppsV1Api(api)
        web = apps.read_namespaced_deployment("web", "acme-staging")
        api_app = apps.read_namespaced_deployment("api", "acme-staging")
    # The client's models are typed loosely; the demo's own Deployments have these fields.
    web_spec: Any = web.spec.template.spec
    api_spec: Any = api_app.spec
    return str(web_spec.containers[0].image), int(api_spec.replicas)


def resize_by_hand(play: Play, *, name: str) -> None:
    """What an operator does in the vSphere client: power the VM off and give it more CPUs."""
    vcsim = play.stage.vcsim
    si = SmartConnect(  # type: ignore[no-untyped-call]
        host=vcsim.host, port=vcsim.port, user=vcsim.username, pwd=vcsim.password, protocol="http"
    )
    try:
        machine = si.RetrieveContent().searchIndex.FindByInventoryPath(
            f"DC0/vm/acme-staging/{name}"
        )
        if machine is None:
            raise fail("drift", f"VM {name} is not in vcsim's acme-staging folder")
        config_spec: Any = vim.vm.ConfigSpec  # pyVmomi is untyped
        for task in (
            machine.PowerOffVM_Task(),
            machine.ReconfigVM_Task(config_spec(numCPUs=RESIZED_CPUS)),
        ):
            if task.info.state != "success":
                raise fail("drift", f"vcsim refused the hand edit of {name}: {task.info.error}")
    finally:
        Disconnect(si)  # type: ignore[no-untyped-call]


def drift(play: Play) -> None:
    """Scene 4: a VM resized by hand is caught by the drift check, reported and healed."""
    scene = "drift"
    vm = "acme-staging-db-0"
    resize_by_hand(play, name=vm)
    play.console.print(
        f"an operator powered off [bold]{vm}[/] and gave it {RESIZED_CPUS} CPUs in vSphere"
    )
    outcome = DriftChecker(play.reconciler).check(play.target)
    if outcome.status is not DriftStatus.DRIFTED:
        raise fail(
            scene, f"the drift check found {outcome.status.value}, not drifted: {outcome.error}"
        )
    fields = {(f["path"], f["actual"]) for i in outcome.items for f in i["fields"]}
    if ("cpu", RESIZED_CPUS) not in fields:
        raise fail(
            scene, f"the report does not show cpu {RESIZED_CPUS}: {sorted(map(str, fields))}"
        )
    report = _api_get(play, f"/api/v1/drift-reports/{outcome.report_id}")
    play.console.print(show.drift_table(report.get("diffs") or outcome.items))
    healed = outcome.healed
    if healed is not None:
        play.console.print(f"drift mode is heal: the revert ended [bold]{healed.status}[/]")
    again = DriftChecker(play.reconciler).check(play.target)
    play.console.print(f"a second drift check: [bold]{again.status.value}[/]")
    play.facts[scene] = {"report": outcome.report_id, "healed": healed.status if healed else "",
                         "after": again.status.value, "items": len(outcome.items)}  # fmt: skip


def _api_get(play: Play, path: str) -> dict[str, Any]:
    token = play.facts["registration"]["token"]
    answer = httpx.get(f"{play.stage.api_url}{path}", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)  # fmt: skip
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def audit(play: Play) -> None:
    """Scene 5: ``rxt audit verify`` run as a person would, on the demo's data directory."""
    scene = "audit verify"
    settings = play.stage.settings
    env = {**os.environ, "RXT_DATA_DIR": str(settings.data_dir),
           "RXT_DATABASE_URL": settings.database_url,
           "RXT_AUDIT_SIGNING_KEY": str(settings.signing_key_path)}  # fmt: skip
    command = [
        sys.executable,
        "-c",
        "import sys; from rxt.cli import main; sys.exit(main(['audit', 'verify']))",
    ]
    done = subprocess.run(  # noqa: S603 - this Python, running rxt's own CLI
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    ok = done.returncode == 0 and ": ok," in done.stdout
    play.console.print(show.audit_panel(done.stdout + done.stderr, ok=ok))
    if not ok:
        said = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise fail(scene, f"rxt audit verify exited {done.returncode}: {' '.join(said)}")
    play.facts[scene] = {"output": done.stdout}
