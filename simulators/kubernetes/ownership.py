"""``metadata.managedFields``: who owns which field, and the server-side apply merge.

The store calls ``apply`` for ``application/apply-patch+yaml`` requests and ``record_update``
after every other write, so ownership follows each change as on the real server.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from simulators.kubernetes import fields
from simulators.kubernetes.fields import Path
from simulators.kubernetes.kinds import Kind
from simulators.kubernetes.schemas import Node
from simulators.kubernetes.status import ApiError
from simulators.kubernetes.validation import Cause

Entry = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(manager: str, operation: str, kind: Kind, paths: set[Path]) -> Entry:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": kind.api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields.to_tree(paths),
    }


def _owned(obj: dict[str, Any]) -> list[tuple[Entry, set[Path]]]:
    entries = obj.get("metadata", {}).get("managedFields") or []
    return [(entry, fields.from_tree(entry.get("fieldsV1") or {})) for entry in entries]


def _store(obj: dict[str, Any], owned: list[tuple[Entry, set[Path]]]) -> None:
    entries = []
    for entry, paths in owned:
        if paths:
            entries.append({**entry, "fieldsV1": fields.to_tree(paths)})
    obj["metadata"]["managedFields"] = entries


def record_update(
    old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, kind: Kind, schema: Node
) -> None:
    """Give ``manager`` the fields an Update changed, taking them from everyone else."""
    taken = fields.changed_paths(old or {}, new, schema)
    owned = _owned(old) if old else []
    if not taken:
        _store(new, owned)
        return
    owned = [(entry, paths - taken) for entry, paths in owned]
    mine = [
        i for i, (e, _) in enumerate(owned) if (e["manager"], e["operation"]) == (manager, "Update")
    ]
    if mine:
        entry, paths = owned[mine[0]]
        owned[mine[0]] = ({**entry, "time": now()}, paths | taken)
    else:
        owned.append((_entry(manager, "Update", kind, taken), taken))
    _store(new, owned)


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    force: bool,
    kind: Kind,
    schema: Node,
) -> dict[str, Any]:
    """The object after ``manager`` applies ``config`` over ``live`` (None to create).

    Raises:
        ApiError: 409 Conflict with one cause per field another manager owns with another
            value, unless ``force`` moves those fields to ``manager``.
    """
    config = {k: v for k, v in config.items() if k != "status"}
    applied = fields.field_set(config, schema)
    if live is None:
        new = copy.deepcopy(config)
        _store(new, [(_entry(manager, "Apply", kind, applied), applied)])
        return new

    owned = _owned(live)
    mine = next((p for e, p in owned if _is_apply_of(e, manager)), set())
    others = [(e, p) for e, p in owned if not _is_apply_of(e, manager)]
    clashes = _conflicts(live, config, applied, others)
    if clashes and not force:
        raise _conflict_error(kind, config["metadata"]["name"], clashes)
    taken = {path for _, path in clashes}
    others = [(entry, paths - taken) for entry, paths in others]

    still_owned = set().union(*(paths for _, paths in others)) if others else set()
    new = copy.deepcopy(live)
    for path in _removals(mine - applied - still_owned):
        fields.remove(new, path)
    new = dict(fields.merge(new, config, schema))
    _store(new, [*others, (_entry(manager, "Apply", kind, applied), applied)])
    return new


def _removals(paths: set[Path]) -> list[Path]:
    """Paths to delete, deepest first, leaving out fields of list items deleted whole.

    Deleting an item's key field first would leave an item no one can find by its key.
    """
    items = {path[:-1] for path in paths if path[-1] == "."}
    kept = [
        path
        for path in paths
        if path[-1] == "." or not any(path[: len(item)] == item for item in items)
    ]
    return sorted(kept, key=len, reverse=True)


def _is_apply_of(entry: Entry, manager: str) -> bool:
    return bool(entry.get("manager") == manager and entry.get("operation") == "Apply")


def _conflicts(
    live: dict[str, Any],
    config: dict[str, Any],
    applied: set[Path],
    others: list[tuple[Entry, set[Path]]],
) -> list[tuple[str, Path]]:
    out = []
    for entry, paths in others:
        for path in sorted(applied & paths):
            if path[-1] != "." and fields.get(live, path) != fields.get(config, path):
                out.append((str(entry["manager"]), path))
    return out


def _conflict_error(kind: Kind, name: str, clashes: list[tuple[str, Path]]) -> ApiError:
    causes = [
        Cause(
            "FieldManagerConflict",
            f'conflict with "{manager}" using {kind.api_version}',
            fields.render(path),
        )
        for manager, path in clashes
    ]
    noun = "conflict" if len(causes) == 1 else "conflicts"
    listed = "; ".join(f"{cause.message}: {cause.field}" for cause in causes)
    message = f"Apply failed with {len(causes)} {noun}: {listed}"
    return ApiError(409, message, reason="Conflict", kind=kind, name=name, causes=causes)
