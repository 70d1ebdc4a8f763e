"""The hierarchical ``PATCH /policy/api/v1/infra``: Child wrappers, references, cascading deletes.

Called by the HTTP layer; runs every child inside one store transaction, all or nothing.
"""

from __future__ import annotations

from typing import Any

from simulators.nsx.model import BY_TYPE, bad_request
from simulators.nsx.store import Store


def patch_infra(store: Store, body: Any, *, user: str, enforce_revision: bool) -> list[str]:
    """Apply an ``Infra`` body with ``children``; returns the paths written.

    Raises:
        ApiError: a child is malformed, a reference dangles, a delete is refused; nothing of
            the request is kept then.
    """
    if not isinstance(body, dict) or body.get("resource_type", "Infra") != "Infra":
        raise bad_request("The hierarchical API expects a body with resource_type [Infra].")
    with store.transaction() as touched:
        for child in _children(body):
            _apply_child(
                store,
                child,
                parent="/infra",
                parent_type="Infra",
                user=user,
                enforce=enforce_revision,
            )
    return list(dict.fromkeys(touched))


def _children(body: dict[str, Any]) -> list[dict[str, Any]]:
    children = body.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise bad_request("Field [children] must be a list of Child objects.")
    return children


def _apply_child(
    store: Store, child: dict[str, Any], *, parent: str, parent_type: str, user: str, enforce: bool
) -> None:
    wrapper = str(child.get("resource_type", ""))
    if wrapper == "ChildResourceReference":
        _descend_reference(
            store, child, parent=parent, parent_type=parent_type, user=user, enforce=enforce
        )
        return
    if not wrapper.startswith("Child"):
        raise bad_request(f"Unknown child resource_type [{wrapper}].")
    inner_type = wrapper[len("Child") :]
    inner = child.get(inner_type)
    kind = BY_TYPE.get(inner_type)
    if not isinstance(inner, dict) or kind is None:
        raise bad_request(f"Child [{wrapper}] must carry an object under key [{inner_type}].")
    if kind.parent != parent_type:
        raise bad_request(f"A {inner_type} cannot be a child of a {parent_type}.")
    if not inner.get("id"):
        raise bad_request(f"Child [{wrapper}] has no id.")
    path = f"{parent}/{kind.collection}/{inner['id']}"
    if child.get("marked_for_delete") or inner.get("marked_for_delete"):
        store.delete(path)  # deleting what is already gone is not an error
        return
    if kind.writable:
        fields = {k: v for k, v in inner.items() if k != "children"}
        store.write(
            path, fields, replace=False, user=user, revision="check" if enforce else "ignore"
        )
    elif not store.resolves(path):
        raise bad_request(f"Path=[{path}] is platform-owned and does not exist.")
    for grandchild in _children(inner):
        _apply_child(
            store, grandchild, parent=path, parent_type=inner_type, user=user, enforce=enforce
        )


def _descend_reference(
    store: Store, child: dict[str, Any], *, parent: str, parent_type: str, user: str, enforce: bool
) -> None:
    # A ChildResourceReference names an existing parent and never modifies it.
    target_type = str(child.get("target_type", ""))
    kind = BY_TYPE.get(target_type)
    if kind is None or kind.parent != parent_type or not child.get("id"):
        raise bad_request(f"ChildResourceReference to [{target_type}] is not valid here.")
    path = f"{parent}/{kind.collection}/{child['id']}"
    if not store.resolves(path):
        raise bad_request(f"ChildResourceReference path=[{path}] does not exist.")
    for grandchild in _children(child):
        _apply_child(
            store, grandchild, parent=path, parent_type=target_type, user=user, enforce=enforce
        )
