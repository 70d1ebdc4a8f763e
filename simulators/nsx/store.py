"""The fake NSX's intent tree: objects by policy path, revisions, references, pending deletes.

The HTTP layer (``server.py``) and the hierarchical PATCH (``hierarchy.py``) call it under one lock.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from simulators.nsx.model import (
    SERVER_FIELDS,
    ApiError,
    Kind,
    bad_request,
    kind_of,
    parent_path,
    referenced_paths,
    validate,
    with_defaults,
)

WRITE_ONLY = frozenset({"private_key", "passphrase"})
ANY = "ANY"


@dataclass
class Record:
    """One intent object as the fake keeps it; ``body`` holds no server-filled field."""

    path: str
    kind: Kind
    body: dict[str, Any]
    revision: int = 0
    created_ms: int = 0
    modified_ms: int = 0
    user: str = "admin"
    system_owned: bool = False
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deleted_at: int | None = None
    polls_left: int = 0
    ready_at: float = 0.0

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass
class Realization:
    """How long realization takes and which paths fail; tests change it between calls."""

    polls: int = 1
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


class Store:
    """Every object of the fake, with NSX's rules for writes, deletes and references."""

    def __init__(self, *, delete_ticks: int = 2, clock: Callable[[], float] = time.monotonic):
        self.records: dict[str, Record] = {}
        self.external_paths: set[str] = set()
        self.pins: dict[str, set[str]] = {}
        self.realization = Realization()
        self.delete_ticks = delete_ticks
        self.ticks = 0
        self.clock = clock
        self._touched: list[str] = []
        self._deleted: list[str] = []

    # --- reads -----------------------------------------------------------------------------

    def tick(self) -> None:
        """One request went by: purge deletes that have been pending long enough."""
        self.ticks += 1
        for path, record in list(self.records.items()):
            if (
                record.deleted_at is not None
                and self.ticks - record.deleted_at >= self.delete_ticks
            ):
                del self.records[path]

    def live(self, path: str) -> Record:
        record = self.records.get(path)
        if record is None or not record.live:
            raise ApiError(404, 600, f"The path=[{path}] is invalid")
        return record

    def view(self, record: Record, *, with_rules: bool = True) -> dict[str, Any]:
        """The object as GET returns it: body, server fields and computed fields."""
        out = {k: copy.deepcopy(v) for k, v in record.body.items() if k not in WRITE_ONLY}
        out.update(
            resource_type=record.kind.resource_type,
            id=record.path.rsplit("/", 1)[1],
            path=record.path,
            parent_path=parent_path(record.path),
            relative_path=record.path.rsplit("/", 1)[1],
            unique_id=record.unique_id,
            realization_id=record.unique_id,
            marked_for_delete=not record.live,
            overridden=False,
            _create_time=record.created_ms,
            _create_user=record.user,
            _last_modified_time=record.modified_ms,
            _last_modified_user=record.user,
            _system_owned=record.system_owned,
            _protection="NOT_PROTECTED",
            _revision=record.revision,
        )
        if record.kind.resource_type == "Segment":
            out["type"] = "ROUTED" if out.get("connectivity_path") else "DISCONNECTED"
        if record.kind.resource_type == "SecurityPolicy":
            rules = self.children(record.path, "rules")
            out["rule_count"] = len(rules)
            out["internal_sequence_number"] = record.created_ms % 100000
            if with_rules:
                out["rules"] = [self.view(rule) for rule in rules]
        return out

    def children(self, path: str, collection: str, *, hidden: bool = False) -> list[Record]:
        prefix = f"{path}/{collection}/"
        return [
            record
            for key, record in sorted(self.records.items())
            if key.startswith(prefix) and "/" not in key[len(prefix) :] and (hidden or record.live)
        ]

    def resolves(self, path: str) -> bool:
        record = self.records.get(path)
        return path in self.external_paths or (record is not None and record.live)

    # --- writes ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[list[str]]:
        """All or nothing: references are checked at the end, and a failure restores the tree.

        Yields the list of paths written, filled in as the block runs.
        """
        saved = copy.deepcopy(self.records)
        self._touched, self._deleted = [], []
        try:
            yield self._touched
            self._check_references()
        except BaseException:
            self.records = saved
            raise

    def write(
        self, path: str, body: dict[str, Any], *, replace: bool, user: str, revision: str = "check"
    ) -> Record:
        """Create or update the object at ``path`` (PATCH merges, PUT and ``replace`` do not).

        ``revision`` is ``check`` (a stale ``_revision`` fails), ``require`` (PUT: it must be
        sent) or ``ignore`` (hierarchical PATCH without ``enforce_revision_check``).
        """
        kind = kind_of(path)
        object_id = path.rsplit("/", 1)[1]
        self._check_writable(path, kind, body, object_id)
        existing = self.records.get(path)
        if existing is not None and not existing.live:
            raise bad_request(
                f"The object path=[{path}] is marked for deletion; wait until it is purged.",
                code=500045,
            )
        if revision != "ignore":
            required = revision == "require" and existing is not None
            self._check_revision(path, existing, body, required=required)
        rules = body.get("rules") if kind.resource_type == "SecurityPolicy" else None
        clean = {
            k: copy.deepcopy(v) for k, v in body.items() if k not in SERVER_FIELDS | {"children"}
        }
        clean.pop("rules", None)
        clean.update(resource_type=kind.resource_type, id=object_id)
        if existing is not None and not (replace or kind.patch_replaces):
            clean = {**existing.body, **clean}
        validate(kind, clean)
        record = self._store(path, kind, with_defaults(kind, _fill_ids(kind, clean)), user=user)
        if isinstance(rules, list):
            self._replace_rules(path, rules, user=user)
        return record

    def _check_writable(self, path: str, kind: Kind, body: dict[str, Any], object_id: str) -> None:
        if not kind.writable:
            raise ApiError(403, 500090, f"Object path=[{path}] is read-only in this NSX fake.")
        if body.get("id", object_id) != object_id:
            raise bad_request(f"Id [{body.get('id')}] in the body does not match the URL.")
        parent = parent_path(path)
        if parent != "/infra" and not self.resolves(parent):
            raise bad_request(f"Parent path=[{parent}] of [{path}] does not exist.")

    def _check_revision(
        self, path: str, existing: Record | None, body: dict[str, Any], *, required: bool
    ) -> None:
        sent = body.get("_revision")
        if required and sent is None:
            raise ApiError(412, 604, f"Object path=[{path}] needs a _revision to be replaced.")
        if existing is not None and sent is not None and int(sent) != existing.revision:
            raise ApiError(
                412,
                604,
                f"The object was modified by somebody else (path=[{path}], _revision {sent} "
                f"does not match the current {existing.revision}).",
            )

    def _store(self, path: str, kind: Kind, body: dict[str, Any], *, user: str) -> Record:
        now_ms = int(time.time() * 1000)
        existing = self.records.get(path)
        if existing is None:
            record = Record(path, kind, body, created_ms=now_ms, modified_ms=now_ms, user=user)
            self.records[path] = record
        else:
            record = existing
            # NSX bumps the generation on every accepted write, changed or not.
            record.body, record.revision, record.modified_ms = body, record.revision + 1, now_ms
        record.polls_left = self.realization.polls
        record.ready_at = self.clock() + self.realization.seconds
        self._touched.append(path)
        return record

    def _replace_rules(self, policy: str, rules: list[Any], *, user: str) -> None:
        wanted = {str(rule.get("id")) for rule in rules if isinstance(rule, dict)}
        for old in self.children(policy, "rules"):
            if old.path.rsplit("/", 1)[1] not in wanted:
                del self.records[old.path]
        for rule in rules:
            if not isinstance(rule, dict) or not rule.get("id"):
                raise bad_request(f"A rule of [{policy}] has no id.")
            path = f"{policy}/rules/{rule['id']}"
            self.write(path, rule, replace=True, user=user, revision="ignore")

    def delete(self, path: str) -> bool:
        """Mark ``path`` and its subtree for deletion; False when there was nothing to delete."""
        record = self.records.get(path)
        if record is None or not record.live:
            return False
        for key in [k for k in self.records if k == path or k.startswith(path + "/")]:
            if self.records[key].live:
                self.records[key].deleted_at = self.ticks
                self._deleted.append(key)
        return True

    def _check_references(self) -> None:
        for path in self._touched:
            record = self.records.get(path)
            if record is None or not record.live:
                continue
            for target in referenced_paths(record.kind, record.body):
                if target != ANY and not self.resolves(target):
                    raise bad_request(f"Path=[{target}] referenced by [{path}] does not exist.")
        deleted = set(self._deleted)
        for path in self._deleted:
            users = sorted(self.pins.get(path, set()) | (self._referrers(path) - deleted))
            if users:
                raise bad_request(
                    f"The object path=[{path}] cannot be deleted as either it has children or "
                    f"it is being referenced by other objects path=[{','.join(users)}]",
                    code=500030,
                )

    def _referrers(self, target: str) -> set[str]:
        return {
            record.path
            for record in self.records.values()
            if record.live and target in referenced_paths(record.kind, record.body)
        }

    # --- realization -----------------------------------------------------------------------

    def realization_state(self, path: str) -> tuple[str, list[dict[str, Any]]]:
        """``REALIZED``, ``IN_PROGRESS`` or ``ERROR`` with alarms; each poll counts down."""
        record = self.live(path)
        failure = self.realization.failures.get(path)
        if failure is not None:
            return "ERROR", [{"message": failure, "error_details": {"error_code": 500}}]
        if record.polls_left > 0 or self.clock() < record.ready_at:
            record.polls_left = max(0, record.polls_left - 1)
            return "IN_PROGRESS", []
        return "REALIZED", []

    def seed(self, path: str, body: dict[str, Any], *, system_owned: bool = True) -> None:
        """Put a platform-owned object in place, bypassing the read-only rule."""
        kind = kind_of(path)
        object_id = path.rsplit("/", 1)[1]
        body = {**body, "resource_type": kind.resource_type, "id": object_id}
        body.setdefault("display_name", object_id)
        self.records[path] = Record(path, kind, body, user="system", system_owned=system_owned)


def _fill_ids(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    # NSX gives every group expression an id of its own and returns it on reads.
    if kind.resource_type == "Group" and isinstance(body.get("expression"), list):
        body["expression"] = [
            {**item, "id": item.get("id") or str(uuid.uuid4())} if isinstance(item, dict) else item
            for item in body["expression"]
        ]
    return body
