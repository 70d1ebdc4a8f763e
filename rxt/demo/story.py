"""The demo from start to end: the stage up (the engine among it), the example repository on
the demo's Git host, the five scenes, where to look next, and everything stopped.

``rxt.commands.demo`` calls ``run_demo``; tests pass ``inspect`` to look at the simulators before
they stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from core.errors import RxtError
from rxt.demo import scenes, show
from rxt.demo.gitrepo import DemoRepository
from rxt.demo.scenes import ENVIRONMENT, Play, SceneFailed
from rxt.demo.stage import REPOSITORY, Stage, certificate_paths, import_certificates, staged

SCENES: tuple[tuple[str, Callable[[Play], None]], ...] = (
    ("the registration and the first apply of staging", scenes.first_apply),
    ("a pull request gets its plan preview", scenes.pull_request),
    ("the merge and its apply", scenes.merge),
    ("a hand-made change in vSphere is caught as drift", scenes.drift),
    ("rxt audit verify", scenes.audit),
)

Inspect = Callable[[Play], None]


def _set_up(console: Console, stage: Stage, example: Path) -> Play:
    repo = DemoRepository(stage.git.root, example=example, name=REPOSITORY,
                          url=stage.git.url_of(REPOSITORY))  # fmt: skip
    certificates = certificate_paths(example, ENVIRONMENT)
    import_certificates(stage.nsx, certificates)
    named = ", ".join(certificates)
    console.print(f"As the operator would, imported the TLS certificate(s) {named} into NSX; "
                  "the engine only references them", highlight=False)  # fmt: skip
    head = repo.initial()
    console.print(f"The tenant's repository [bold]{repo.url}[/] holds example-repo/, main at "
                  f"{head[:12]}", highlight=False)  # fmt: skip
    return Play(console, stage, repo)


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
        play = _set_up(console, stage, example)
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
        f"Done in {seconds:.0f} s; the engine, its API, vcsim, OpenBao, the Git host and the "
        "fakes are stopped.\n"
        "Look next:\n"
        "  docs/demo.md              what each scene showed and how to explore\n"
        "  docs/audit.md, docs/webhooks.md, docs/secrets.md, docs/simulators/\n"
        f"{state}"
        "  rxt plan example-repo/environments/staging "
        "--observed example-repo/snapshots/staging.json\n"
        "  rxt serve --help          the engine with its webhooks and the tenant API",
        highlight=False,
    )
