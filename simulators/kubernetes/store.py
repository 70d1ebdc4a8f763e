"""The fake API server's objects: create, read, list, update, patch, apply and delete.

One lock guards everything; ``resourceVersion`` is one global counter, as etcd's revision is.
The HTTP handlers and the controllers call it; it knows nothing of HTTP.
"""

from __future__ import annotations

import base64
import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.kubernetes import ownership, schemas, validation
from simulators.kubernetes.defaults import apply_defaults
from simulators.kubernetes.kinds import Kind, served
from simulators.kubernetes.status import (
    ApiError,
    already_exists,
    conflict,
    invalid,
    not_found,
    success,
)

Key = tuple[str, str, str]  # plural, namespace, name
NAMESPACES = served("Namespace")


@dataclass(frozen=True, slots=True)
class Write:
    """How one write is made: who makes it, and whether it is kept."""

    manager: str
    dry_run: bool = False
    strict: bool = False


def _key(kind: Kind, namespace: str, name: str) -> Key:
    return (kind.qualified, namespace if kind.namespaced else "", name)


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in {"metadata", "status", "apiVersion", "kind"}}


class Store:
    """Every object of the fake cluster, for one Kubernetes minor version's schemas."""

    def __init__(self, *, minor: int) -> None:
        schemas.schema_dir(minor, strict=False)
        self.minor = minor
        self.lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._revision = 0

    def revision(self) -> str:
        with self.lock:
            return str(self._revision)

    # -- reads ------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            found = self._objects.get(_key(kind, namespace, name))
            if found is None:
                raise not_found(kind, name)
            return copy.deepcopy(found)

    def list(
        self, kind: Kind, namespace: str, keep: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], str]:
        """Matching objects (all namespaces when ``namespace`` is empty) and the revision."""
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (plural, space, _), obj in sorted(self._objects.items())
                if plural == kind.qualified and (not namespace or space == namespace) and keep(obj)
            ]
            return items, str(self._revision)

    # -- writes -----------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str, body: dict[str, Any], write: Write) -> Any:
        name = str((body.get("metadata") or {}).get("name") or "")
        with self.lock:
            self._check_namespace(kind, namespace)
            if _key(kind, namespace, name) in self._objects:
                raise already_exists(kind, name)
            new = self._identify(kind, namespace, body)
            ownership.record_update(
                None, new, manager=write.manager, kind=kind, schema=self._schema(kind)
            )
            return self._commit(kind, None, new, write)

    def replace(
        self, kind: Kind, namespace: str, name: str, body: dict[str, Any], write: Write
    ) -> Any:
        with self.lock:
            old = self.get(kind, namespace, name)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                why = (
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again"
                )
                raise conflict(kind, name, why)
            new = copy.deepcopy(body)
            new["metadata"] = {**old["metadata"], **_user_meta(body)}
            if "status" in old:
                new["status"] = old["status"]
            ownership.record_update(
                old, new, manager=write.manager, kind=kind, schema=self._schema(kind)
            )
            return self._commit(kind, old, new, write)

    def merge_patch(
        self, kind: Kind, namespace: str, name: str, patch: dict[str, Any], write: Write
    ) -> Any:
        with self.lock:
            old = self.get(kind, namespace, name)
            new = _merge_patch(old, {k: v for k, v in patch.items() if k != "status"})
            ownership.record_update(
                old, new, manager=write.manager, kind=kind, schema=self._schema(kind)
            )
            return self._commit(kind, old, new, write)

    def apply(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        config: dict[str, Any],
        write: Write,
        *,
        force: bool,
    ) -> tuple[dict[str, Any], bool]:
        """Server-side apply; returns the object and whether it was created."""
        self._check_config(kind, namespace, name, config)
        causes = validation.schema_causes(config, kind, minor=self.minor, strict=True, partial=True)
        if causes:
            raise invalid(kind, name, causes)
        with self.lock:
            self._check_namespace(kind, namespace)
            key = _key(kind, namespace, name)
            old = copy.deepcopy(self._objects.get(key))
            schema = self._schema(kind)
            merged = ownership.apply(
                old, config, manager=write.manager, force=force, kind=kind, schema=schema
            )
            if old is None:
                managed = merged["metadata"]["managedFields"]
                merged = self._identify(kind, namespace, merged)
                merged["metadata"]["managedFields"] = managed
            return self._commit(kind, old, merged, write), old is None

    def delete(
        self, kind: Kind, namespace: str, name: str, *, preconditions: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        with self.lock:
            old = self.get(kind, namespace, name)
            for field in ("uid", "resourceVersion"):
                wanted = preconditions.get(field)
                if wanted and wanted != old["metadata"][field]:
                    why = (
                        f"Precondition failed: {field} in precondition: {wanted}, "
                        f"{field} in object meta: {old['metadata'][field]}"
                    )
                    raise conflict(kind, name, why)
            if not dry_run:
                self._remove(kind, namespace, name)
            return (
                old if kind.delete_returns_object else success(kind, name, old["metadata"]["uid"])
            )

    def write_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a controller's status update does: a new revision, spec untouched."""
        with self.lock:
            found = self._objects.get(_key(kind, namespace, name))
            if found is None or found.get("status") == status:
                return
            found["status"] = copy.deepcopy(status)
            self._revision += 1
            found["metadata"]["resourceVersion"] = str(self._revision)

    # -- helpers ----------------------------------------------------------------------------

    def _schema(self, kind: Kind) -> schemas.Node:
        return schemas.root(self.minor, kind.api_version, kind.kind)

    def _check_namespace(self, kind: Kind, namespace: str) -> None:
        if kind.namespaced and _key(NAMESPACES, "", namespace) not in self._objects:
            raise not_found(NAMESPACES, namespace)

    def _check_config(self, kind: Kind, namespace: str, name: str, config: dict[str, Any]) -> None:
        meta = config.get("metadata") or {}
        if config.get("apiVersion") != kind.api_version or config.get("kind") != kind.kind:
            raise ApiError(400, f"the body's apiVersion and kind do not match {kind.qualified}")
        if meta.get("name") != name:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        if kind.namespaced and meta.get("namespace", namespace) != namespace:
            raise ApiError(
                400, "the namespace of the object does not match the namespace on the URL"
            )

    def _identify(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(body)
        meta = new.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        if kind.namespaced:
            meta["namespace"] = namespace
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=ownership.now())
        return new

    def _commit(
        self, kind: Kind, old: dict[str, Any] | None, new: dict[str, Any], write: Write
    ) -> dict[str, Any]:
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        _fold_string_data(new)
        apply_defaults(new)
        name = str(new["metadata"].get("name") or "")
        causes = validation.semantic_causes(new, kind)
        causes += validation.schema_causes(new, kind, minor=self.minor, strict=write.strict)
        if old is not None:
            causes += validation.immutable_causes(old, new, kind)
        if causes:
            raise invalid(kind, name, causes)
        if kind.has_spec:
            changed = old is None or _spec_part(old) != _spec_part(new)
            generation = (old or {}).get("metadata", {}).get("generation", 0)
            new["metadata"]["generation"] = generation + 1 if changed else generation
        if old is not None and _same(old, new):
            return old
        if write.dry_run:
            return new
        self._revision += 1
        new["metadata"]["resourceVersion"] = str(self._revision)
        self._objects[_key(kind, new["metadata"].get("namespace", ""), name)] = new
        return copy.deepcopy(new)

    def _remove(self, kind: Kind, namespace: str, name: str) -> None:
        self._revision += 1
        del self._objects[_key(kind, namespace, name)]
        if kind is NAMESPACES:
            for key in [k for k in self._objects if k[1] == name and k[0] != NAMESPACES.qualified]:
                del self._objects[key]


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A write that changes nothing keeps the object and its resourceVersion, as etcd does."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        entries = sorted(
            ({**e, "time": ""} for e in obj["metadata"].get("managedFields") or []),
            key=lambda e: (e["manager"], e["operation"]),
        )
        return {**obj, "metadata": {**meta, "managedFields": entries}}

    return strip(old) == strip(new)


def _user_meta(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {k: meta[k] for k in ("labels", "annotations", "finalizers") if k in meta}


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _fold_string_data(obj: dict[str, Any]) -> None:
    # The real server moves stringData into data, base64-encoded, and never stores stringData.
    extra = obj.pop("stringData", None)
    if obj.get("kind") == "Secret" and isinstance(extra, dict):
        data = obj.setdefault("data", {})
        for key, value in extra.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
