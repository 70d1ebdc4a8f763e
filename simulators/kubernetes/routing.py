"""Request routing of the fake API server: URL to kind, and verb to store call.

``handle`` is called by the HTTP handler for every request that passed fault injection; it
answers with a status code and a JSON body, or raises ``ApiError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from simulators.kubernetes import kinds
from simulators.kubernetes.kinds import Kind
from simulators.kubernetes.selectors import SelectorError, field_selector, label_selector
from simulators.kubernetes.status import ApiError
from simulators.kubernetes.store import Store, Write

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    content_type: str
    body: bytes
    user_agent: str


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    namespace: str
    name: str


def _query(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(request.target).query).items()}


def _discovery(parts: list[str], minor: str) -> dict[str, Any] | None:
    fixed = {
        ("version",): lambda: kinds.version_info(minor),
        ("api",): kinds.core_versions,
        ("api", "v1"): lambda: kinds.resource_list("", "v1"),
        ("apis",): kinds.group_list,
    }
    if tuple(parts) in fixed:
        return fixed[tuple(parts)]()
    if parts[:1] == ["apis"] and len(parts) == 2:
        return kinds.group(parts[1])
    if parts[:1] == ["apis"] and len(parts) == 3:
        return kinds.resource_list(parts[1], parts[2])
    return None


def _target(parts: list[str]) -> Target | None:
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not 1 <= len(rest) <= 2:
        return None
    kind = kinds.by_path(group, version, rest[0])
    if kind is None or (namespace and not kind.namespaced):
        return None
    return Target(kind, namespace, rest[1] if len(rest) == 2 else "")


def _json(request: Request) -> dict[str, Any]:
    try:
        if request.content_type.startswith(APPLY):
            loaded = yaml.safe_load(request.body.decode() or "{}")
        else:
            loaded = json.loads(request.body.decode() or "{}")
    except (ValueError, yaml.YAMLError) as error:
        raise ApiError(400, f"the request body is not valid: {error}") from error
    if not isinstance(loaded, dict):
        raise ApiError(400, "the request body must be an object")
    return loaded


def _manager(request: Request, query: dict[str, str]) -> str:
    # Without fieldManager the real server names the manager after the user agent's product.
    return query.get("fieldManager") or request.user_agent.split("/", 1)[0] or "unknown"


def _dry_run(query: dict[str, str], body: dict[str, Any] | None = None) -> bool:
    return query.get("dryRun") == "All" or (body or {}).get("dryRun") == ["All"]


def handle(store: Store, request: Request) -> Answer:
    """Answer one request."""
    parts = [part for part in urlsplit(request.target).path.split("/") if part]
    found = _discovery(parts, str(store.minor)) if request.method == "GET" else None
    if found is not None:
        return 200, found
    target = _target(parts)
    if target is None:
        raise ApiError(404, "the server could not find the requested resource")
    if target.name:
        return _object(store, request, target)
    return _collection(store, request, target)


def _collection(store: Store, request: Request, target: Target) -> Answer:
    query = _query(request)
    if request.method == "GET":
        return 200, _list(store, target, query)
    if request.method == "POST":
        write = Write(
            _manager(request, query), _dry_run(query), query.get("fieldValidation") == "Strict"
        )
        return 201, store.create(target.kind, target.namespace, _json(request), write)
    raise ApiError(405, f"{request.method} is not supported on a collection by this fake")


def _list(store: Store, target: Target, query: dict[str, str]) -> dict[str, Any]:
    if query.get("watch") in {"true", "1"}:
        raise ApiError(400, "watch is not served by this fake API server")
    try:
        labels = label_selector(query.get("labelSelector", ""))
        by_field = field_selector(query.get("fieldSelector", ""))
    except SelectorError as error:
        raise ApiError(400, str(error)) from error
    items, revision = store.list(
        target.kind,
        target.namespace,
        lambda obj: labels(obj["metadata"].get("labels") or {}) and by_field(obj),
    )
    for item in items:
        # The real server leaves apiVersion and kind out of list items.
        item.pop("apiVersion", None)
        item.pop("kind", None)
    return {
        "kind": f"{target.kind.kind}List",
        "apiVersion": target.kind.api_version,
        "metadata": {"resourceVersion": revision},
        "items": items,
    }


def _object(store: Store, request: Request, target: Target) -> Answer:
    query = _query(request)
    kind, namespace, name = target.kind, target.namespace, target.name
    strict = query.get("fieldValidation") == "Strict"
    if request.method == "GET":
        return 200, store.get(kind, namespace, name)
    if request.method == "PUT":
        write = Write(_manager(request, query), _dry_run(query), strict)
        return 200, store.replace(kind, namespace, name, _json(request), write)
    if request.method == "DELETE":
        options = _json(request) if request.body else {}
        return 200, store.delete(
            kind,
            namespace,
            name,
            preconditions=options.get("preconditions") or {},
            dry_run=_dry_run(query, options),
        )
    if request.method == "PATCH":
        return _patch(store, request, target, query)
    raise ApiError(405, f"{request.method} is not supported on an object")


def _patch(store: Store, request: Request, target: Target, query: dict[str, str]) -> Answer:
    kind, namespace, name = target.kind, target.namespace, target.name
    if request.content_type.startswith(APPLY):
        if not query.get("fieldManager"):
            message = (
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch"
            )
            raise ApiError(422, message, reason="Invalid")
        write = Write(query["fieldManager"], _dry_run(query), strict=True)
        force = query.get("force") in {"true", "1"}
        obj, created = store.apply(kind, namespace, name, _json(request), write, force=force)
        return (201 if created else 200), obj
    if request.content_type.startswith(MERGE):
        write = Write(
            _manager(request, query), _dry_run(query), query.get("fieldValidation") == "Strict"
        )
        return 200, store.merge_patch(kind, namespace, name, _json(request), write)
    message = f"the body of the request was in an unknown format: {request.content_type}"
    raise ApiError(415, message)
