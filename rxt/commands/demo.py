"""``rxt demo``: validate the example repository and show what each environment holds.

For now the demo stops at validation and placement: nothing is planned against the simulators
or applied. Exit 0 when the example repository is valid, 1 when it is missing or invalid.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from planner.loading import LoadedEnvironment
from planner.manifests import Application
from planner.placement import place_environment
from rxt.commands.validate import Outcome, check, render_text

EXAMPLE_REPO = "example-repo"
_PIPE_WIDTH = 160


def find_example_repo() -> Path | None:
    """The example repository beside the package in a source checkout, if there is one."""
    checkout = Path(__file__).resolve().parents[2]
    candidate = checkout / EXAMPLE_REPO
    return candidate if (candidate / "environments").is_dir() else None


def _image(image: str) -> str:
    """An image by its last path part, a digest shortened to the twelve characters people
    compare."""
    name, at, digest = image.partition("@sha256:")
    short = name.rsplit("/", 1)[-1]
    return f"{short}@{digest[:12]}" if at else short


def _replicas(app: Application) -> str:
    scale = app.spec.autoscale
    if scale is None:
        return str(app.spec.replicas)
    return f"{app.spec.replicas}, auto {scale.min}-{scale.max}"


def _exposure(app: Application) -> str:
    expose = app.spec.expose
    if expose is None:
        allowed = app.spec.network.allow_from
        return f"from {', '.join(allowed)}" if allowed else "internal"
    scheme = "https" if expose.tls else "http"
    path = "" if expose.path == "/" else expose.path
    return f"{scheme}://{expose.host}{path}"


def environment_table(env: LoadedEnvironment) -> Table:
    """One environment's applications as a table a person reads."""
    spec = env.environment.spec
    sites = ", ".join(
        f"{kind} {site.site}"
        for kind, site in (("vsphere", spec.sites.vsphere), ("nsx", spec.sites.nsx),
                           ("kubernetes", spec.sites.kubernetes))
        if site is not None
    )  # fmt: skip
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"environment {env.name} (tenant {env.environment.metadata.tenant})",
        caption=(
            f"sites: {sites} · sync: {'auto' if spec.sync.auto else 'on request'}"
            f" · drift: every {spec.drift.interval}, {spec.drift.mode}"
            f" · policy packs: {', '.join(spec.policy.packs)}"
        ),
    )
    for column in ("app", "image", "replicas", "ports", "exposure", "compliance", "placement"):
        table.add_column(column, no_wrap=column != "exposure")
    placements = place_environment(env)
    for name, app in env.apps.items():
        placed = placements[name]
        ports = ", ".join(f"{p.name}:{p.port}" for p in app.spec.ports) or "none"
        table.add_row(
            name,
            _image(app.spec.image),
            _replicas(app),
            ports,
            _exposure(app),
            ", ".join(app.spec.placement.compliance) or "-",
            f"{placed.target.value} ({placed.rule})",
        )
    return table


def _show(console: Console, outcome: Outcome) -> None:
    for env in outcome.environments:
        console.print(environment_table(env))
        console.print()
    console.print(
        f"[green]{render_text(outcome)}[/]\n"
        "Placement is the planner's decision matrix; `rxt explain ENV_DIR APP` shows why. "
        "This demo stops there: nothing is planned against the simulators or applied yet."
    )


def demo_command() -> None:
    """Validate the example repository and print a summary of each environment."""
    console = Console()
    if not console.is_terminal:  # a log or a pipe has no width; keep rows on one line each
        console = Console(width=_PIPE_WIDTH)
    repo = find_example_repo()
    if repo is None:
        typer.echo(
            f"the {EXAMPLE_REPO}/ folder was not found next to the rxt package\n"
            "  hint: run `rxt demo` from a source checkout (git clone, then `make demo`)",
            err=True,
        )
        raise typer.Exit(1)
    outcome = check(repo)
    if outcome.errors:
        typer.echo(render_text(outcome))
        raise typer.Exit(1)
    _show(console, outcome)


def register(app: typer.Typer) -> None:
    """Add ``rxt demo`` to the command line."""
    app.command("demo")(demo_command)
