"""Recorded observed state: the snapshot format ``rxt plan --observed`` reads (docs/plan-json.md).

Called by ``rxt plan`` and the tests; the fake driver world writes the same shape. Reading a
snapshot normalises it as a driver would, so a Secret's values never enter a plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import Location, ManifestError
from core.resources import ObservedResource, OwnerKey, Platform, ResourceRef

FORMAT_VERSION = 1
_SECRET_VALUES = ("data", "stringData")


def _problem(where: str, message: str) -> ManifestError:
    return ManifestError(
        message,
        location=Location(where),
        hint='a snapshot is {"resources": [...]}; see docs/plan-json.md',
    )


def _owner(value: Any, where: str) -> OwnerKey | None:
    if value is None:
        return None
    try:
        return OwnerKey.parse(str(value))
    except ValueError as error:
        raise _problem(where, str(error)) from error


def normalised_spec(ref: ResourceRef, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as a driver reports it: a Kubernetes Secret without its values."""
    if ref.platform is Platform.KUBERNETES and ref.kind == "Secret":
        return {key: value for key, value in spec.items() if key not in _SECRET_VALUES}
    return dict(spec)


def _resource(item: Any, where: str) -> ObservedResource:
    if not isinstance(item, Mapping):
        raise _problem(where, "a resource must be an object")
    try:
        ref = ResourceRef(
            Platform(item["platform"]),
            str(item["kind"]),
            str(item["name"]),
            str(item.get("scope", "")),
        )
        spec = item["spec"]
    except KeyError as error:
        raise _problem(where, f"a resource needs {error.args[0]!r}") from error
    except ValueError as error:
        raise _problem(where, f"unknown platform: {error}") from error
    if not isinstance(spec, Mapping):
        raise _problem(where, "spec must be an object")
    return ObservedResource(
        ref=ref,
        owner=_owner(item.get("owner"), where),
        spec=normalised_spec(ref, spec),
        external_id=str(item.get("external_id", "")),
        version=str(item.get("version", "")),
        status=dict(item.get("status") or {}),
    )


def read_snapshot(document: Any, *, source: str = "snapshot") -> list[ObservedResource]:
    """The observed resources of a parsed snapshot; ``{"resources": []}`` is the empty world.

    Raises:
        ManifestError: the document is not a snapshot; the message names the entry.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("resources"), list):
        raise _problem(source, "not a snapshot: expected an object with a resources list")
    version = document.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise _problem(source, f"snapshot format_version {version!r} is not {FORMAT_VERSION}")
    found = [
        _resource(item, f"{source}: resources[{index}]")
        for index, item in enumerate(document["resources"])
    ]
    refs = [item.ref for item in found]
    if len(set(refs)) != len(refs):
        raise _problem(source, "a resource appears twice in the snapshot")
    return found


def write_snapshot(observed: Iterable[ObservedResource]) -> dict[str, Any]:
    """A snapshot document of ``observed``, sorted by reference."""
    rows = []
    for item in sorted(observed, key=lambda o: o.ref):
        row: dict[str, Any] = {
            "platform": item.ref.platform.value,
            "kind": item.ref.kind,
            "name": item.ref.name,
            "scope": item.ref.scope,
            "owner": str(item.owner) if item.owner else None,
            "spec": normalised_spec(item.ref, item.spec),
        }
        for key in ("external_id", "version"):
            if getattr(item, key):
                row[key] = getattr(item, key)
        if item.status:
            row["status"] = dict(item.status)
        rows.append(row)
    return {"format_version": FORMAT_VERSION, "resources": rows}
