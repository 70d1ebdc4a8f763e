"""Work-arounds the demo needs until the parts they concern are fixed; each says why.

``rxt.demo.story`` builds its reconciler from ``DemoReconciler``.
"""

from __future__ import annotations

from dataclasses import replace

from planner import bundles, policy
from planner.loading import LoadedEnvironment
from reconciler.planning import on_planning_thread
from reconciler.reconciling import Reconciler, Target


def without_app_order(view: LoadedEnvironment) -> LoadedEnvironment:
    """The environment with every app's ``dependsOn`` emptied.

    The apply's dependency graph (``reconciler.applying.dependency_graph``) makes every change
    of an app wait for every change of the apps it depends on, on top of the resources' own
    dependencies. In the example, payments depends on db while db's NSX security policy
    references payments' group, so the graph has a cycle and the apply stops before it starts.
    Dropping the app-level order leaves the resource-level one (namespaces and segments before
    what they hold, groups before policies); the rendered resources and the plan id are the
    same, since ``dependsOn`` only orders.
    """
    apps = {
        name: app.model_copy(update={"spec": app.spec.model_copy(update={"depends_on": []})})
        for name, app in view.apps.items()
    }
    return replace(view, apps=apps)


class DemoReconciler(Reconciler):
    """The engine's reconciler, loading environments without app-level apply order."""

    def load(self, target: Target, commit: str) -> LoadedEnvironment:
        return without_app_order(super().load(target, commit))


PAYMENTS = "environments/staging/apps/payments/deploy.yaml"
NO_VIRTUAL_SERVER = (
    "payments is deployed without its NSX load balancer (expose removed in the demo's copy): "
    "an NSX virtual server needs a virtual IP, which no manifest field carries yet (not built)"
)


def without_exposed_vms(files: dict[str, bytes]) -> dict[str, bytes]:
    """The example with payments' ``expose`` line removed.

    The NSX renderer makes an ``LBVirtualServer`` without ``ip_address`` (no manifest field
    holds a virtual IP yet), which NSX, and so the NSX fake, refuses; every apply of the
    example would fail on that one object.
    """
    text = files[PAYMENTS].decode()
    kept = [line for line in text.split("\n") if not line.lstrip().startswith("expose:")]
    return {**files, PAYMENTS: "\n".join(kept).encode()}


def _drop_engines() -> None:
    # Private parts of the planner, reached for on purpose; see release_policy_engines.
    bundles._COMPILED.__dict__.clear()
    policy._ENGINES.__dict__.clear()


def release_policy_engines() -> None:
    """Drop the planner's cached regorus engines on the planning thread that made them.

    The planner keeps compiled engines in a process-wide cache and per-thread clones; regorus
    engines may only be dropped by the thread that made them, and at interpreter exit they are
    dropped on the main thread, which prints a RuntimeError after the demo's last line.
    """
    on_planning_thread(_drop_engines)
