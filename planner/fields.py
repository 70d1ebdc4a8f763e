"""Field-level work on specs: digests, dotted-path diffs, removing or carrying over ignored paths.

Called by ``planner.diffing`` (field diffs only for resources that differ, so that cost follows
the drift) and ``planner.plans`` (a digest of every spec, for the plan's fingerprints).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from core.resources import FieldDiff

_ABSENT = object()
# RFC 8785 (core.hashing) is pure Python and costs about a millisecond a spec; sorted-key JSON
# from the C encoder gives equal bytes for equal data in a fraction of that, which is all the
# plan's fingerprints need.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def spec_digest(spec: Mapping[str, Any] | list[Any]) -> str:
    """A ``sha256:`` digest of ``spec`` (or any JSON value) as sorted-key compact JSON.

    Equal data gives equal digests, except where JSON tells apart what Python equates (``1``
    and ``1.0``), which can change a plan id but never makes a change.
    """
    text = _ENCODER.encode(spec)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def field_diffs(before: Any, after: Any, *, prefix: str = "") -> list[FieldDiff]:
    """Every leaf that differs between ``before`` and ``after``, as dotted paths.

    Objects are compared key by key; lists of equal length element by element (``ports.0``);
    a list whose length changed is one diff of the whole list. ``None`` stands for absent.
    """
    found: list[FieldDiff] = []
    _walk(before, after, prefix, found)
    return found


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _walk(before: Any, after: Any, path: str, found: list[FieldDiff]) -> None:
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after), key=str):
            _walk(before.get(key), after.get(key), _join(path, key), found)
        return
    both_lists = isinstance(before, list) and isinstance(after, list)
    if both_lists and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            _walk(old, new, _join(path, index), found)
        return
    found.append(FieldDiff(path=path or "(root)", before=before, after=after))


def get_path(value: Any, path: str) -> Any:
    """The value at a dotted path, or ``None`` when any step is missing."""
    current = value
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step, _ABSENT)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
        if current is _ABSENT:
            return None
    return current


def _copy_to(spec: Any, steps: list[str]) -> tuple[Any, Any]:
    """A copy of ``spec`` whose containers along ``steps[:-1]`` are fresh, and the last one."""
    root = _shallow(spec)
    parent = root
    for step in steps[:-1]:
        child = parent.get(step) if isinstance(parent, dict) else None
        if not isinstance(child, dict):
            return root, None
        parent[step] = _shallow(child)
        parent = parent[step]
    return root, parent


def _shallow(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def without(spec: Mapping[str, Any], paths: Iterable[str]) -> Mapping[str, Any]:
    """``spec`` with each dotted path removed; the input is never modified."""
    result: Any = spec
    for path in paths:
        steps = path.split(".")
        result, parent = _copy_to(result, steps)
        if isinstance(parent, dict):
            parent.pop(steps[-1], None)
    return dict(result)


def carry_over(
    desired: Mapping[str, Any], observed: Mapping[str, Any], paths: Iterable[str]
) -> Mapping[str, Any]:
    """``desired`` with each ignored path holding the observed value (or absent, as observed).

    An update then writes back what the platform holds at those paths and leaves them alone.
    """
    result: Any = desired
    for path in paths:
        steps = path.split(".")
        value = get_path(observed, path)
        result, parent = _copy_to(result, steps)
        if not isinstance(parent, dict):
            continue
        if value is None:
            parent.pop(steps[-1], None)
        else:
            parent[steps[-1]] = value
    return dict(result)
