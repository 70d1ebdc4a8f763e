"""Field ownership for server-side apply: field sets, FieldsV1 trees, merging and removal.

A small model of structured-merge-diff. A path is a tuple of steps: ``f:<field>`` for a map
field, ``k:<json>`` for an item of a list merged by key, ``.`` for such an item itself. Lists
without a merge key are atomic. The applying module calls these.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from simulators.kubernetes.schemas import Node

Path = tuple[str, ...]

# Identity and server-owned fields are never tracked, as on the real server.
_UNTRACKED_META = {
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "managedFields", "deletionTimestamp", "selfLink",
}  # fmt: skip


def key_step(item: Any, key: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    return "k:" + json.dumps({key: value}, separators=(",", ":"))


def field_set(obj: dict[str, Any], schema: Node) -> set[Path]:
    """Every leaf path set in ``obj`` that ownership tracks."""
    tracked = {k: v for k, v in obj.items() if k not in {"apiVersion", "kind", "status"}}
    meta = tracked.get("metadata")
    if isinstance(meta, dict):
        tracked["metadata"] = {k: v for k, v in meta.items() if k not in _UNTRACKED_META}
        if not tracked["metadata"]:
            del tracked["metadata"]
    return _paths(tracked, schema, ())


def _paths(value: Any, schema: Node, prefix: Path) -> set[Path]:
    if isinstance(value, dict):
        if not value:
            return {prefix} if prefix else set()
        out: set[Path] = set()
        for key, sub in value.items():
            out |= _paths(sub, schema.child(key), (*prefix, f"f:{key}"))
        return out
    key = schema.merge_key()
    if isinstance(value, list) and key and value:
        out = set()
        for item in value:
            item_path = (*prefix, key_step(item, key))
            out.add((*item_path, "."))
            out |= _paths(item, schema.items(), item_path)
        return out
    return {prefix}


def to_tree(paths: set[Path]) -> dict[str, Any]:
    """The FieldsV1 JSON of a field set."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for step in path:
            node = node.setdefault(step, {})
    return tree


def from_tree(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The field set of FieldsV1 JSON."""
    out: set[Path] = set()
    for step, sub in tree.items():
        path = (*prefix, step)
        if sub:
            out |= from_tree(sub, path)
        else:
            out.add(path)
    return out


_MISSING = object()


def get(obj: Any, path: Path) -> Any:
    """The value at ``path``, or a sentinel when absent (compare with ``is_missing``)."""
    node = obj
    for step in path:
        if step == ".":
            return node
        if step.startswith("f:") and isinstance(node, dict) and step[2:] in node:
            node = node[step[2:]]
        elif step.startswith("k:") and isinstance(node, list):
            node = _find_item(node, step)
            if node is _MISSING:
                return node
        else:
            return _MISSING
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _find_item(items: list[Any], step: str) -> Any:
    wanted = json.loads(step[2:])
    for item in items:
        if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
            return item
    return _MISSING


def remove(obj: dict[str, Any], path: Path) -> None:
    """Delete the field or list item at ``path``; absent paths are ignored.

    A list or map left empty goes too, as Go's ``omitempty`` drops it on the real server.
    """
    if path[-1] == ".":
        path = path[:-1]
    parent = get(obj, path[:-1]) if len(path) > 1 else obj
    step = path[-1]
    if step.startswith("f:") and isinstance(parent, dict):
        parent.pop(step[2:], None)
    elif step.startswith("k:") and isinstance(parent, list):
        item = _find_item(parent, step)
        if item is not _MISSING:
            parent.remove(item)
    if len(path) > 1 and isinstance(parent, (dict, list)) and not parent:
        remove(obj, path[:-1])


def merge(live: Any, applied: Any, schema: Node) -> Any:
    """``applied`` laid over ``live``: maps field by field, keyed lists item by item."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for key, value in applied.items():
            out[key] = merge(live.get(key), value, schema.child(key))
        return out
    key = schema.merge_key()
    if key and isinstance(live, list) and isinstance(applied, list):
        return _merge_keyed(live, applied, key, schema.items())
    return copy.deepcopy(applied)


def _merge_keyed(live: list[Any], applied: list[Any], key: str, items: Node) -> list[Any]:
    """A keyed list merged in the API server's order: the applied items in the order they were
    applied, and each item only the live list has kept where it stood among them.

    Applying ``[d, a]`` over a live ``[a]`` gives ``[d, a]``, not ``[a, d]``; a sidecar another
    manager added after ``a`` stays after ``a``. Walks both lists side by side, as
    structured-merge-diff does: a live item also applied is taken only when it is the next
    applied item that the live list shares, so shared items follow the applied order.
    """
    live_steps = [key_step(item, key) for item in live]
    applied_steps = [key_step(item, key) for item in applied]
    live_by_step = dict(zip(live_steps, live, strict=True))
    applied_set = set(applied_steps)
    shared = iter([step for step in applied_steps if step in live_by_step])
    next_shared = next(shared, None)
    merged: list[Any] = []
    taken: set[str] = set()
    li = ri = 0
    while li < len(live) or ri < len(applied):
        if li < len(live) and ri < len(applied):
            step = live_steps[li]
            if step == applied_steps[ri]:
                merged.append(merge(live[li], applied[ri], items))
                taken.add(step)
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if step in applied_set and next_shared is not None and next_shared != step:
                li += 1  # applied later in the list: it is placed when the walk reaches it there
                continue
        if li < len(live):
            step = live_steps[li]
            if step not in applied_set:
                merged.append(copy.deepcopy(live[li]))
                li += 1
                continue
            if step in taken:
                li += 1
                continue
        if ri < len(applied):
            step = applied_steps[ri]
            found = live_by_step.get(step, _MISSING)
            merged.append(
                copy.deepcopy(applied[ri])
                if found is _MISSING
                else merge(found, applied[ri], items)
            )
            taken.add(step)
            ri += 1
            if next_shared == step:
                next_shared = next(shared, None)
    return merged


def project(obj: Any, tree: dict[str, Any]) -> Any:
    """The part of ``obj`` covered by a FieldsV1 tree (what one manager owns)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for step, sub in tree.items():
            name = step[2:]
            if step.startswith("f:") and name in obj:
                out[name] = project(obj[name], sub) if sub else copy.deepcopy(obj[name])
        return out
    if isinstance(obj, list):
        items = []
        for item in obj:
            sub = next((s for t, s in tree.items() if _find_item([item], t) is item), None)
            if sub is not None:
                items.append(project(item, {t: s for t, s in sub.items() if t != "."}))
        return items
    return copy.deepcopy(obj)


def changed_paths(before: dict[str, Any], after: dict[str, Any], schema: Node) -> set[Path]:
    """Leaf paths of ``after`` whose value differs from ``before`` (what an update takes)."""
    return {p for p in field_set(after, schema) if get(before, p) != get(after, p)}


def render(path: Path) -> str:
    """A path as the real server prints it in conflict causes: ``.spec.replicas``."""
    out = ""
    for step in path:
        if step.startswith("f:"):
            out += "." + step[2:]
        elif step.startswith("k:"):
            ((key, value),) = json.loads(step[2:]).items()
            out += f"[{key}={json.dumps(value)}]"
    return out
