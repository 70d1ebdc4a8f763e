"""The demo's five scenes, each carried by the engine: the registration's first sync, a pull
request's preview, the merge and its apply, a hand-made change caught as drift, and the audit
chain verified.

``rxt.demo.story`` plays them in order on a ``Play``; each scene hands work to the engine the way
a tenant or GitHub would (the tenant API, signed webhooks), waits for it with a bounded poll,
and raises ``SceneFailed`` naming itself when it did not happen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client as k8s
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim
from rich.console import Console

from core.resources import ObservedResource
from reconciler.workers import item_key
from rxt.demo import show
from rxt.demo.githost import pull_request_event, push_event, send_webhook
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.stage import REVIEW, TENANT, WEBHOOK_SECRET, WEBHOOK_SECRET_REF, Stage
from rxt.demo.tenant import TenantApi, grant, register
from rxt.demo.waiting import (
    CHECK_SECONDS,
    SceneFailed,
    fail,
    finished_run,
    follow_run,
    until,
)

__all__ = ["Play", "SceneFailed", "fail"]

ENVIRONMENT = "staging"
SITES = ("sddc-dfw", "nsx-dfw", "spot-dfw")
STAGING = f"environments/{ENVIRONMENT}"
WEB = f"{STAGING}/apps/web/deploy.yaml"
API = f"{STAGING}/apps/api/deploy.yaml"
BRANCH = "bump-web-scale-api"
WEB_DIGEST = "d8725a375cc61a22b17ace49052f3686bfd98eb27bd40cfb7e1cdcd6b7f1092c"
NEW_WEB_DIGEST = "5f1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100aa"
RESIZED_CPUS = 8


@dataclass
class Play:
    """What the scenes share: the stage, the repository, the tenant admin's view of the API
    once scene 1 has registered, and the facts each scene established (read by the tests)."""

    console: Console
    stage: Stage
    repo: DemoRepository
    api: TenantApi | None = None
    environment_id: int = 0
    facts: dict[str, Any] = field(default_factory=dict)

    def tenant_api(self) -> TenantApi:
        if self.api is None:
            raise fail("registration", "the repository was not registered", hint="play scene 1")
        return self.api

    def last_run(self) -> int:
        """The id of the environment's newest run, 0 before the first."""
        last = self.tenant_api().environment(self.environment_id)["sync"]["lastRun"]
        return int(last["id"]) if last else 0


def _manifest(play: Play) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(play.repo.main_files[f"{STAGING}/environment.yaml"])
    return found


def _observe(play: Play, commit: str) -> list[ObservedResource]:
    """What the platforms hold for staging, read by the engine's own drivers."""
    engine = play.stage.engine
    view = engine.reconciler.load(engine.targets[item_key(TENANT, ENVIRONMENT)], commit)
    return play.stage.sites.observe(view)


def _check_run(scene: str, run: dict[str, Any]) -> None:
    if run["status"] != "succeeded":
        raise fail(scene, f"run {run['id']} ended {run['status']}: {run.get('error') or ''}")


def first_apply(play: Play) -> None:
    """Scene 1: the tenant registers its repository; the engine adopts it, plans staging on
    empty platforms and applies it."""
    scene = "first plan and apply"
    stage = play.stage
    play.api = grant(stage.api_url, operator_token=stage.operator_token, tenant=TENANT,
                     sites=SITES)  # fmt: skip
    registered = register(play.api, url=play.repo.url, webhook_secret_ref=WEBHOOK_SECRET_REF,
                          environments={ENVIRONMENT: _manifest(play)})  # fmt: skip
    play.environment_id = registered.environments[ENVIRONMENT]
    play.console.print(
        f"The operator granted tenant {TENANT} its sites; its admin registered "
        f"[bold]{play.repo.url}[/] (POST /api/v1/repositories). The engine adopts it, reads its "
        "webhook secret from OpenBao and queues the first sync of staging.",
        highlight=False,
    )
    run, plan = follow_run(
        play.console, stage.feed, play.tenant_api(), play.environment_id, after=0,
        label="the engine applies staging to vSphere, NSX, Kubernetes", scene=scene,
        what=f"the first sync of {TENANT}/{ENVIRONMENT} after its registration",
    )  # fmt: skip
    _check_run(scene, run)
    body = plan["body"]
    play.console.print(show.placements_table(body))
    play.console.print(show.plan_text(body), highlight=False)
    observed = _observe(play, str(run["commit"]))
    kinds = {(o.ref.platform.value, o.ref.kind) for o in observed}
    needed = {("vsphere", "VirtualMachine"), ("nsx", "Segment"), ("nsx", "LBVirtualServer"),
              ("kubernetes", "Deployment")}  # fmt: skip
    if not needed <= kinds:
        raise fail(scene, f"missing after the apply: {sorted(needed - kinds)}")
    play.console.print(show.platform_table(observed, title="created, per platform"))
    play.facts[scene] = {"plan": plan["id"], "run": run["id"], "commit": run["commit"],
                         "changes": len(body["changes"]), "objects": len(observed)}  # fmt: skip


def bump_web(text: str) -> str:
    return text.replace(WEB_DIGEST, NEW_WEB_DIGEST)


def scale_api(text: str) -> str:
    return text.replace("replicas: 1", "replicas: 2")


def pull_request(play: Play) -> None:
    """Scene 2: a pull request bumps web's image and scales api; GitHub's webhook makes the
    engine preview it, which comments on the review and sets its commit status."""
    scene = "pull request preview"
    stage, repo = play.stage, play.repo
    base = repo.head("main")
    head = repo.branch(BRANCH, {WEB: bump_web, API: scale_api},
                       message="Bump web's image, run two api replicas")  # fmt: skip
    repo.open_review(BRANCH, number=REVIEW)
    event = pull_request_event(repo.name, url=repo.url, number=REVIEW, head=head, branch=BRANCH,
                               base=base)  # fmt: skip
    send_webhook(stage.api_url, "pull_request", event, secret=WEBHOOK_SECRET)
    play.console.print(
        f"pushed branch {BRANCH} ({head[:12]}), opened pull request #{REVIEW}; "
        "GitHub's signed pull_request webhook went to the engine",
        highlight=False,
    )
    with show.waiting(play.console, "a worker previews the pull request"):
        statuses = until(lambda: _settled(play, head), seconds=CHECK_SECONDS, scene=scene,
                         what=f"the final commit status of the preview on #{REVIEW}")  # fmt: skip
    comments = stage.forge.comments(repo.name, REVIEW)
    if len(comments) != 1:
        raise fail(scene, f"expected one sticky comment for staging, found {len(comments)}")
    stored = stage.store.previews.latest(TENANT, ENVIRONMENT, repository=repo.name, number=REVIEW)
    if stored is None or stored.head_commit != head:
        raise fail(scene, f"no preview of staging at {head[:12]} is kept in the state store")
    if "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy." not in comments[0].body:
        raise fail(scene, "the preview should change web and api only; see the comment")
    play.console.print(show.comment_summary(comments[0].body))
    final = statuses[-1]
    states = " → ".join(s.state for s in statuses)
    play.console.print(f"commit status [bold]{final.context}[/]: {states} ({final.description})")
    if final.state != "success":
        raise fail(scene, f"the commit status is {final.state}: {final.description}")
    play.facts[scene] = {"head": head, "plan": stored.plan_id, "comment": comments[0].id}


def _settled(play: Play, head: str) -> list[Any] | None:
    """The commit statuses of ``head`` once the last one is no longer pending."""
    statuses = play.stage.forge.statuses(head)
    return statuses if statuses and statuses[-1].state != "pending" else None


def merge(play: Play) -> None:
    """Scene 3: the review is merged and pushed; the engine's reconcile applies the merge only
    if its plan is the one previewed."""
    scene = "merge and apply"
    stage, repo = play.stage, play.repo
    before, after_run = repo.head("main"), play.last_run()
    merged = repo.merge(BRANCH, message=f"Merge pull request #{REVIEW}")
    closed = pull_request_event(repo.name, url=repo.url, number=REVIEW, head=repo.head(BRANCH),
                                branch=BRANCH, base=before, merged=merged)  # fmt: skip
    send_webhook(stage.api_url, "pull_request", closed, secret=WEBHOOK_SECRET)
    pushed = push_event(repo.name, url=repo.url, before=before, after=merged)
    send_webhook(stage.api_url, "push", pushed, secret=WEBHOOK_SECRET)
    play.console.print(f"merged #{REVIEW} into main as {merged[:12]}; GitHub's signed "
                       "pull_request (closed) and push webhooks went to the engine",
                       highlight=False)  # fmt: skip
    run, plan = follow_run(
        play.console, stage.feed, play.tenant_api(), play.environment_id, after=after_run,
        commit=merged, label="the engine applies the merge", scene=scene,
        what=f"the reconcile of the merge commit {merged[:12]}",
    )  # fmt: skip
    verdict = stage.store.previews.verdict(TENANT, ENVIRONMENT, merged)
    if verdict is None:
        raise fail(scene, f"the merge commit {merged[:12]} was not matched to review #{REVIEW}")
    if not verdict.matches or verdict.held:
        hint = "nothing should move between the preview and the merge in the demo"
        raise fail(scene, f"the merge was planned again: {verdict.reason}", hint=hint)
    _check_run(scene, run)
    play.console.print(show.plan_text(plan["body"]), highlight=False)
    play.console.print(
        f"the plan at the merge commit {merged[:12]} is the one previewed on #{verdict.number}: "
        f"run {run['id']} applied it ([bold]{run['status']}[/])"
    )
    image, replicas = _deployments(play)
    if NEW_WEB_DIGEST not in image or replicas != 2:
        raise fail(scene, f"Kubernetes shows web {image} and api replicas {replicas}")
    play.console.print(f"Kubernetes now runs web [bold]…@{image[-12:]}[/] and api with "
                       f"[bold]{replicas}[/] replicas")  # fmt: skip
    play.facts[scene] = {"commit": merged, "plan": plan["id"], "run": run["id"],
                         "matches": verdict.matches}  # fmt: skip


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
    """Scene 4: a VM resized by hand; a drift check asked for through the tenant API reports
    it, and heals it (staging drifts in heal mode); a second check finds nothing."""
    scene = "drift"
    vm = "acme-staging-db-0"
    after_run = play.last_run()
    resize_by_hand(play, name=vm)
    play.console.print(
        f"an operator powered off [bold]{vm}[/] and gave it {RESIZED_CPUS} CPUs in vSphere"
    )
    report = _checked(play, scene, reason=f"{vm} was changed by hand")
    if report["status"] != "drifted":
        raise fail(scene, f"the drift check found {report['status']}, not drifted: "
                   f"{report.get('error') or ''}")  # fmt: skip
    fields = {(f["path"], f["actual"]) for d in report["diffs"] for f in d["fields"]}
    if ("cpu", RESIZED_CPUS) not in fields:
        raise fail(
            scene, f"the report does not show cpu {RESIZED_CPUS}: {sorted(map(str, fields))}"
        )
    play.console.print(show.drift_table(report["diffs"]))
    healed = ""
    if _manifest(play)["spec"]["drift"]["mode"] == "heal":
        api = play.tenant_api()
        run = until(lambda: finished_run(api, play.environment_id, after=after_run),
                    seconds=CHECK_SECONDS, scene=scene, what=f"the heal of {vm}")  # fmt: skip
        healed = str(run["status"])
        play.console.print(f"drift mode is heal: the engine reverted it in run {run['id']}, "
                           f"which ended [bold]{healed}[/]")  # fmt: skip
    again = _checked(play, scene, reason="after the heal")
    play.console.print(f"a second drift check: [bold]{again['status']}[/]")
    play.facts[scene] = {"report": report["id"], "healed": healed, "after": again["status"],
                         "items": len(report["diffs"])}  # fmt: skip


def _checked(play: Play, scene: str, *, reason: str) -> dict[str, Any]:
    """Ask the engine for a drift check through the tenant API and return its report."""
    api = play.tenant_api()
    known = api.environment(play.environment_id)["drift"]["reportId"] or 0
    api.check_drift(play.environment_id, reason=reason)

    def reported() -> int | None:
        newest = api.environment(play.environment_id)["drift"]["reportId"]
        return int(newest) if newest and int(newest) > known else None

    with show.waiting(play.console, "a worker checks staging for drift"):
        report_id = until(reported, seconds=CHECK_SECONDS, scene=scene,
                          what="the drift report of the check asked for")  # fmt: skip
    return api.drift_report(report_id)


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
