"""The OpenAPI-derived JSON Schemas of ``kubernetes-validate`` for one Kubernetes version.

The validator reads them for 422 answers; the field-ownership code walks them to find which
lists merge by key. Loaded once per version and kept.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from typing import Any

import jsonschema
from kubernetes_validate.utils import all_versions
from referencing import Registry, Resource

SUPPORTED_MINORS = tuple(sorted({int(v.split(".")[1]) for v in all_versions()}))
"""The minor versions ``kubernetes-validate`` ships schemas for (1.25 to 1.37 in 1.37.0)."""


def schema_dir(minor: int, *, strict: bool) -> str:
    """The folder of ``kubernetes-validate`` that holds this version's schemas."""
    if minor not in SUPPORTED_MINORS:
        low, high = SUPPORTED_MINORS[0], SUPPORTED_MINORS[-1]
        raise ValueError(f"Kubernetes 1.{minor} has no schemas here; use 1.{low} to 1.{high}")
    return f"v1.{minor}.0-local" + ("-strict" if strict else "")


@functools.cache
def _load(folder: str, name: str) -> Any:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return json.loads((root / folder / name).read_text())


def _file_name(api_version: str, kind: str) -> str:
    # kubernetes-validate names files <kind>-<group's first label>-<version>.json
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{short}.json"


@functools.cache
def validator(minor: int, api_version: str, kind: str, *, strict: bool) -> Any:
    """A Draft 2020-12 validator of one kind, resolving the shared definitions."""
    folder = schema_dir(minor, strict=strict)
    schema = _load(folder, _file_name(api_version, kind))
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_load(folder, "_definitions.json")) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


class Node:
    """A position in a kind's schema, for walking alongside an object."""

    def __init__(self, minor: int, raw: dict[str, Any]) -> None:
        self._minor = minor
        self._raw = self._resolve(raw)

    def _resolve(self, raw: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in raw:
                name = raw["$ref"].rsplit("/", 1)[-1]
                raw = _definitions(self._minor)[name]
            elif len(raw.get("allOf", ())) == 1:
                raw = raw["allOf"][0]
            else:
                return raw

    def child(self, key: str) -> Node:
        """The schema of field ``key`` (or of a map value); an empty schema when unknown."""
        properties = self._raw.get("properties", {})
        if key in properties:
            return Node(self._minor, properties[key])
        extra = self._raw.get("additionalProperties")
        return Node(self._minor, extra if isinstance(extra, dict) else {})

    def items(self) -> Node:
        """The schema of a list's items."""
        items = self._raw.get("items")
        return Node(self._minor, items if isinstance(items, dict) else {})

    def merge_key(self) -> str | None:
        """The key a list merges by, when it is an associative list; None for atomic lists.

        The real server keys some lists by several fields (Service ports by port and
        protocol); this fake keys every list by its first key only.
        """
        keys = self._raw.get("x-kubernetes-list-map-keys")
        if self._raw.get("x-kubernetes-list-type") == "map" and keys:
            return str(keys[0])
        key = self._raw.get("x-kubernetes-patch-merge-key")
        strategy = str(self._raw.get("x-kubernetes-patch-strategy", ""))
        return str(key) if key and "merge" in strategy else None


@functools.cache
def _definitions(minor: int) -> dict[str, Any]:
    loaded: dict[str, Any] = _load(schema_dir(minor, strict=False), "_definitions.json")["$defs"]
    return loaded


def root(minor: int, api_version: str, kind: str) -> Node:
    """The schema of a whole object of one kind."""
    return Node(minor, _load(schema_dir(minor, strict=False), _file_name(api_version, kind)))
