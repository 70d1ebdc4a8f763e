"""Rendering: the desired resources of an environment, for every platform its apps are placed on.

The reconciler calls ``render_environment``; the plan calls ``render_placed`` with placements it
already holds. Names are deterministic and every object carries its owner key.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.resources import DesiredResource, SecretRef
from planner.placement import EnvironmentView, Placement, Target, place_environment
from planner.rendering import kubernetes, nsx, vms
from planner.rendering.common import RenderContext


def context(
    view: EnvironmentView,
    placements: Mapping[str, Placement],
    *,
    secret_versions: Mapping[SecretRef, int] | None = None,
) -> RenderContext:
    """The render context of one environment."""
    settings = view.environment
    return RenderContext(
        tenant=settings.metadata.tenant,
        environment=settings.metadata.name,
        settings=settings,
        apps=view.apps,
        placements=placements,
        secret_versions=secret_versions,
    )


def _vm_app(ctx: RenderContext, name: str) -> list[DesiredResource]:
    app = ctx.apps[name]
    with_nsx = ctx.settings.spec.sites.nsx is not None
    segment = nsx.render_segment(ctx, name) if with_nsx else None
    depends = (segment.ref,) if segment is not None else ()
    machines = vms.render_app(ctx, app, depends=depends)
    if segment is None:
        return machines
    refs = tuple(item.ref for item in machines)
    return [segment, *machines, *nsx.render_app(ctx, app, vms=refs)]


def render_placed(
    view: EnvironmentView,
    placements: Mapping[str, Placement],
    *,
    secret_versions: Mapping[SecretRef, int] | None = None,
) -> list[DesiredResource]:
    """Render every app where ``placements`` put it, in a stable order."""
    ctx = context(view, placements, secret_versions=secret_versions)
    found = kubernetes.render(ctx)
    for name in ctx.apps_on(Target.VM):
        found.extend(_vm_app(ctx, name))
    return found


def render_environment(
    view: EnvironmentView, *, secret_versions: Mapping[SecretRef, int] | None = None
) -> list[DesiredResource]:
    """Place every app by the matrix, then render the desired resources of the environment.

    Args:
        view: the loaded environment (``planner.loading.LoadedEnvironment``).
        secret_versions: the Vault versions of the secret references, when read; they roll
            pods and VMs on rotation. ``None`` renders the versions as unknown.

    Raises:
        ManifestError: a placement conflict or a target the environment has no site for.
    """
    return render_placed(view, place_environment(view), secret_versions=secret_versions)
