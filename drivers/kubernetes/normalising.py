"""Reads a live object back into the desired spec shape of ``docs/resource-specs.md``.

The fields we own are the ones ``rxt-deploy`` holds in ``metadata.managedFields``; projecting
the object onto them drops status, server defaults, other managers' fields and server
metadata in one step, so an untouched object never shows as drift. Called by observe and apply.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from core.resources import OwnerKey
from drivers.kubernetes.kinds import FIELD_MANAGER, MANAGED_BY, OWNER_ANNOTATION, ManagedKind

# Used only for objects we never applied (no managedFields entry of ours).
_SERVER_METADATA = (
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
    "ownerReferences",
)  # fmt: skip
_KUBECTL_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def owner_of(obj: dict[str, Any]) -> OwnerKey | None:
    """Our owner key on ``obj``, or None unless it carries both of our markers."""
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(MANAGED_BY) != FIELD_MANAGER:
        return None
    try:
        return OwnerKey.parse(str((meta.get("annotations") or {}).get(OWNER_ANNOTATION, "")))
    except ValueError:
        return None


def _our_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            tree = entry.get("fieldsV1") or {}
            return tree if isinstance(tree, dict) else {}
    return None


def _matches(item: Any, step: str) -> bool:
    if not step.startswith("k:") or not isinstance(item, dict):
        return False
    wanted = json.loads(step[2:])
    return all(item.get(key) == value for key, value in wanted.items())


def project(value: Any, tree: dict[str, Any]) -> Any:
    """The part of ``value`` a FieldsV1 tree covers."""
    if isinstance(value, dict):
        out = {}
        for step, sub in tree.items():
            name = step[2:]
            if step.startswith("f:") and name in value:
                out[name] = project(value[name], sub) if sub else copy.deepcopy(value[name])
        return out
    if isinstance(value, list):
        kept = []
        for item in value:
            sub = next((s for step, s in tree.items() if _matches(item, step)), None)
            if sub is not None:
                kept.append(project(item, {k: v for k, v in sub.items() if k != "."}))
        return kept
    return copy.deepcopy(value)


def _stripped(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = out.get("metadata") or {}
    out["metadata"] = {k: v for k, v in meta.items() if k not in _SERVER_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != _KUBECTL_ANNOTATION
    }
    if annotations:
        out["metadata"]["annotations"] = annotations
    else:
        out["metadata"].pop("annotations", None)
    return out


def normalise(obj: dict[str, Any], kind: ManagedKind) -> dict[str, Any]:
    """``obj`` in the shape the planner renders: identity, labels, annotations, our fields."""
    tree = _our_fields(obj)
    owned = project(obj, tree) if tree is not None else _stripped(obj)
    live_meta = obj.get("metadata") or {}
    meta: dict[str, Any] = {"name": live_meta.get("name", "")}
    if kind.namespaced:
        meta["namespace"] = live_meta.get("namespace", "")
    for key in ("labels", "annotations"):
        if (owned.get("metadata") or {}).get(key):
            meta[key] = owned["metadata"][key]
    spec = {k: v for k, v in owned.items() if k not in {"metadata", "apiVersion", "kind"}}
    if kind.kind == "Secret":
        spec.pop("data", None)  # values never enter a spec; the versions annotation stands in
        spec.pop("stringData", None)
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta, **spec}
