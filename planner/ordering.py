"""The order of a plan's changes: a DAG of resource and app dependencies, deletes in reverse.

Called by ``planner.plans``. Creates, updates and replaces follow each resource's ``depends_on``
and the apps' ``dependsOn``; deletes come after them, dependents before what they depend on.
"""

from __future__ import annotations

import graphlib
from collections.abc import Hashable, Mapping, Sequence

from core.errors import Location, ManifestError
from core.resources import Action, Change, ResourceRef

# Within one app: what must exist first has the lower rank. Deletes run from high to low.
KIND_RANKS = {
    "Namespace": 0,
    "Segment": 0,
    "Secret": 1,
    "PersistentVolumeClaim": 1,
    "NetworkPolicy": 1,
    "VirtualMachine": 2,
    "Deployment": 3,
    "Group": 3,
    "HorizontalPodAutoscaler": 4,
    "Service": 4,
    "SecurityPolicy": 4,
    "LBPool": 4,
    "Ingress": 5,
    "LBVirtualServer": 5,
}
_UNRANKED = 3
# Kinds that reference nothing that must exist first, so other apps' objects may point at them
# before their own app is applied (a firewall policy naming a peer's group).
_FREE_STANDING = frozenset({"Group"})


def rank(change: Change) -> int:
    """The kind's rank: namespaces and segments first, ingresses and virtual servers last."""
    return KIND_RANKS.get(change.ref.kind, _UNRANKED)


def _sort_key(change: Change) -> tuple[int, str, str]:
    return (rank(change), change.owner.app, str(change.ref))


def _graph(
    changes: Sequence[Change], app_depends: Mapping[str, Sequence[str]]
) -> dict[Hashable, set[Hashable]]:
    """Each node with its predecessors; ``("app", name)`` nodes stand for 'app applied'."""
    refs = {change.ref for change in changes}
    graph: dict[Hashable, set[Hashable]] = {}
    apps_present = {change.owner.app for change in changes}
    for app in apps_present:
        graph[("app", app)] = set()
    for change in changes:
        desired = change.desired
        needs: set[Hashable] = {
            dep for dep in (desired.depends_on if desired else ()) if dep in refs
        }
        needs.discard(change.ref)
        app = change.owner.app
        if change.ref.kind not in _FREE_STANDING:
            needs.update(("app", dep) for dep in app_depends.get(app, ()) if dep in apps_present)
        graph[change.ref] = needs
        graph[("app", app)].add(change.ref)
    return graph


def _cycle_error(error: graphlib.CycleError) -> ManifestError:
    nodes = error.args[1] if len(error.args) > 1 else []
    apps = [n[1] for n in nodes if isinstance(n, tuple)]
    names = apps if len(apps) > 1 else [str(n) for n in nodes]
    return ManifestError(
        f"dependencies form a cycle: {' -> '.join(names)}",
        location=Location("apps"),
        hint="remove one dependsOn entry so that the apps can be applied in some order",
    )


def order_changes(
    changes: Sequence[Change], *, app_depends: Mapping[str, Sequence[str]] | None = None
) -> list[Change]:
    """The changes in an order that respects every dependency; ties break by rank and name.

    Raises:
        ManifestError: the dependencies form a cycle.
    """
    forward = [change for change in changes if change.action is not Action.DELETE]
    deletes = [change for change in changes if change.action is Action.DELETE]
    by_ref = {change.ref: change for change in forward}
    sorter: graphlib.TopologicalSorter[Hashable] = graphlib.TopologicalSorter(
        _graph(forward, app_depends or {})
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise _cycle_error(error) from error
    ordered: list[Change] = []
    while sorter.is_active():
        ready = sorter.get_ready()
        batch = sorted(
            (by_ref[node] for node in ready if isinstance(node, ResourceRef)), key=_sort_key
        )
        ordered.extend(batch)
        sorter.done(*ready)
    deletes.sort(key=lambda c: (-rank(c), c.owner.app, str(c.ref)))
    return ordered + deletes
