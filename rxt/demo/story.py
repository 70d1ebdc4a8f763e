"""The demo from start to end: the stage up, the example repository in Git and registered
through the tenant API, the five scenes, where to look next, and everything stopped.

``rxt.commands.demo`` calls ``run_demo``; tests pass ``inspect`` to look at the simulators before
they stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from core.errors import RxtError
from reconciler.applying import ApplyLimits
from reconciler.reconciling import Options, Reconciler, Target
from rxt.demo import scenes, show
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.scenes import Play, SceneFailed
from rxt.demo.stage import TENANT, Stage, certificate_paths, import_certificates, staged

ENVIRONMENT = "staging"
SITES = ("sddc-dfw", "nsx-dfw", "spot-dfw")
# Bounded waits on the simulators: a hang ends the scene long before a person gives up.
OPTIONS = Options(
    holder="rxt-demo", limits=ApplyLimits(health_timeout=60.0, health_poll=0.1, deadline=240.0)
)
SCENES: tuple[tuple[str, Callable[[Play], None]], ...] = (
    ("the first plan and apply of staging", scenes.first_apply),
    ("a pull request gets its plan preview", scenes.pull_request),
    ("the merge and its apply", scenes.merge),
    ("a hand-made change in vSphere is caught as drift", scenes.drift),
    ("rxt audit verify", scenes.audit),
)

Inspect = Callable[[Play], None]


def register(stage: Stage, repo: DemoRepository, *, example: Path) -> dict[str, Any]:
    """The operator grants the tenant its sites and an admin token; the tenant's admin
    registers the repository and the staging environment. All through /api/v1."""
    operator = {"Authorization": f"Bearer {stage.operator_token}"}
    with httpx.Client(base_url=f"{stage.api_url}/api/v1", timeout=10) as api:
        api.put(
            f"/tenants/{TENANT}/sites", json={"sites": list(SITES)}, headers=operator
        ).raise_for_status()
        made = api.post(f"/tenants/{TENANT}/tokens", json={"name": "demo-admin", "role": "admin"},
                        headers=operator)  # fmt: skip
        made.raise_for_status()
        token = str(made.json()["token"])
        manifest = yaml.safe_load(
            (example / "environments" / ENVIRONMENT / "environment.yaml").read_text()
        )
        body = {
            "url": repo.url, "branch": "main",
            "webhookSecretRef": {"path": "ci/github-webhook", "key": "secret"},
            "environments": [
                {"name": ENVIRONMENT, "path": f"environments/{ENVIRONMENT}", "manifest": manifest}
            ],
        }  # fmt: skip
        answer = api.post("/repositories", json=body, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 201:
            raise SceneFailed(
                f"registering the repository failed: {answer.status_code} {answer.text}",
                hint="the tenant API answered with the problem above",
            )
    return {"token": token, "repository": answer.json()}


def _set_up(console: Console, stage: Stage, data_dir: Path, example: Path) -> Play:
    repo = DemoRepository(data_dir / "git", example=example)
    certificates = certificate_paths(example, ENVIRONMENT)
    import_certificates(stage.nsx, certificates)
    named = ", ".join(certificates)
    console.print(f"As the operator would, imported the TLS certificate(s) {named} into NSX; "
                  "the engine only references them", highlight=False)  # fmt: skip
    head = repo.initial()
    target = Target(TENANT, ENVIRONMENT, repo.mirror, repository=repo.url)
    play = Play(console, stage, repo, target, Reconciler(stage.store, stage.sites, options=OPTIONS))
    play.facts["registration"] = register(stage, repo, example=example)
    console.print(f"Git repository [bold]{repo.url}[/], main at {head[:12]}; registered for "
                  f"tenant {TENANT} through the tenant API at {stage.api_url}/api/v1")  # fmt: skip
    return play


def run_demo(
    console: Console,
    *,
    data_dir: Path,
    example: Path,
    inspect: Inspect | None = None,
    keep: bool = True,
) -> Play:
    """Play the whole demo; raises ``SceneFailed`` naming the scene that went wrong."""
    started = time.monotonic()
    console.rule("[bold]RXT Deploy demo: starting the platforms")
    with ExitStack() as stack:
        # Rich shows one live display at a time: the start-up steps end before the scenes'
        # progress bars, while the stage itself stays up until this block ends.
        with show.steps(console) as step:
            stage = stack.enter_context(staged(data_dir, step=step))
        console.print(show.places_table(stage.places()))
        play = _set_up(console, stage, data_dir, example)
        for number, (title, scene) in enumerate(SCENES, start=1):
            show.heading(console, number, title)
            _play_scene(play, title, scene)
        if inspect is not None:
            inspect(play)
        console.rule("[bold]stopping everything the demo started")
    where_next(console, data_dir=data_dir if keep else None, seconds=time.monotonic() - started)
    return play


def _play_scene(play: Play, title: str, scene: Callable[[Play], None]) -> None:
    """Play one scene; an unexpected error becomes a ``SceneFailed`` naming the scene."""
    try:
        scene(play)
    except SceneFailed:
        raise
    except RxtError as error:
        raise SceneFailed(f"scene {title!r}: {error.message}", hint=error.hint) from error
    except Exception as error:  # named with its scene rather than a traceback
        raise SceneFailed(
            f"scene {title!r}: {type(error).__name__}: {error}",
            hint="run again with RXT_LOG_LEVEL=debug to see the engine's log",
        ) from error


def where_next(console: Console, *, data_dir: Path | None, seconds: float) -> None:
    """What to read and run next; the audit commands only when the state was kept."""
    console.rule("[bold green]every scene did what it should")
    if data_dir is None:
        state = "  rxt demo --data-dir DIR   run again and keep the state to explore it\n"
    else:
        env = f"RXT_DATA_DIR={data_dir}"
        state = (
            f"  {env} rxt audit log      the audit chain the demo wrote\n"
            f"  {env} rxt audit verify   verify it again\n"
        )
    console.print(
        f"Done in {seconds:.0f} s; vcsim, OpenBao, the fakes and the API are stopped.\n"
        "Look next:\n"
        "  docs/demo.md              what each scene showed and how to explore\n"
        "  docs/audit.md, docs/webhooks.md, docs/secrets.md, docs/simulators/\n"
        f"{state}"
        "  rxt plan example-repo/environments/staging "
        "--observed example-repo/snapshots/staging.json\n"
        "  rxt serve --help          the engine with its webhooks and the tenant API",
        highlight=False,
    )
