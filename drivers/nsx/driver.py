"""The NSX Policy API driver: observe by tag, apply an app's changes in one hierarchical PATCH.

The reconciler calls it through ``drivers.protocol.Driver``; ``apply_many`` groups one app's
changes. NSX has no server-side dry run, so a dry run validates and reads but never writes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import InvalidRequest, NotFound, OwnershipConflict
from core.hashing import digest
from core.logs import get_logger
from core.resources import Action, Change, ObservedResource, OwnerKey, ResourceRef
from drivers.nsx.client import NsxClient, NsxSettings
from drivers.nsx.errors import StaleRevision
from drivers.nsx.kinds import (
    BY_NAME,
    CREATE_ORDER,
    KINDS,
    OWNER_SCOPE,
    NsxKind,
    collection_path,
    normalise,
    owner_of,
    path_of,
    ref_of,
)
from drivers.nsx.realizing import realization, wait_realized
from drivers.protocol import Applied, Health, Scope

log = get_logger(driver="nsx")


@dataclass(frozen=True)
class Step:
    """What one change needs once the platform is read: a PATCH child, a PUT, or nothing."""

    change: Change
    path: str
    child: dict[str, Any] | None = None
    put: dict[str, Any] | None = None

    @property
    def writes(self) -> bool:
        return self.child is not None or self.put is not None


class NsxDriver:
    """Drives the Segment, Group, SecurityPolicy, LBPool and LBVirtualServer kinds."""

    platform: ClassVar[str] = "nsx"

    def __init__(
        self,
        settings: NsxSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.client = NsxClient(settings, sleep=sleep, rng=rng)
        self.clock = clock

    def close(self) -> None:
        self.client.close()

    # --- observe ---------------------------------------------------------------------------

    def observe(self, scope: Scope) -> list[ObservedResource]:
        """Every object of our kinds tagged for ``scope``'s tenant and environment.

        One list call per kind (more when NSX pages), plus one GET per owned security policy,
        because NSX lists policies without their rules.
        """
        domain = str(scope.site.get("domain", "default"))
        prefix = f"{scope.tenant}/{scope.environment}/"
        found: list[ObservedResource] = []
        for kind in KINDS:
            listed = self.client.list_all(collection_path(kind, domain=domain), what=kind.name)
            for body in listed:
                owner = owner_of(body)
                if owner is None or not str(owner).startswith(prefix):
                    continue
                full = body
                if kind.name == "SecurityPolicy":  # listed without rules: read it whole
                    full = self.client.get(str(body["path"]), what=str(body["path"]))
                found.append(self._observed(kind, full, owner=owner, domain=domain))
        return found

    def _observed(
        self, kind: NsxKind, body: dict[str, Any], *, owner: OwnerKey | None, domain: str
    ) -> ObservedResource:
        return ObservedResource(
            ref=ref_of(kind, body, domain=domain),
            owner=owner,
            spec=normalise(kind, body),
            external_id=str(body.get("path", "")),
            version=str(body.get("_revision", "")),
            status={"marked_for_delete": bool(body.get("marked_for_delete", False))},
        )

    # --- apply -----------------------------------------------------------------------------

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        """Carry out one change (one hierarchical PATCH at most); see ``apply_many``."""
        return self.apply_many([change], dry_run=dry_run)[0]

    def apply_many(self, changes: Sequence[Change], *, dry_run: bool = False) -> list[Applied]:
        """Carry out changes, one hierarchical PATCH per app, in the order given.

        Each object is read first: a converged object is not written, a missing one is not
        deleted, and one with our id but without our tag raises OwnershipConflict. A stale
        ``_revision`` (someone wrote in between) is re-read and retried once.

        Raises:
            PlatformError: a subclass saying whether to retry; nothing of an app is written
                when its PATCH is refused.
        """
        groups: dict[tuple[str, str, str], list[int]] = {}
        for index, change in enumerate(changes):
            key = (change.owner.tenant, change.owner.environment, change.owner.app)
            groups.setdefault(key, []).append(index)
        results: dict[int, Applied] = {}
        for indexes in groups.values():
            app_changes = [changes[i] for i in indexes]
            results.update(zip(indexes, self._apply_app(app_changes, dry_run=dry_run), strict=True))
        return [results[i] for i in range(len(changes))]

    def _apply_app(self, changes: list[Change], *, dry_run: bool) -> list[Applied]:
        steps = [self._step(change) for change in changes]
        if not dry_run:
            try:
                self._write(steps)
            except StaleRevision:
                # Someone wrote in between: read again and retry once; a second race surfaces.
                steps = [self._step(change) for change in changes]
                self._write(steps)
            self._wait(steps)
        return [self._applied(step) for step in steps]

    def _step(self, change: Change) -> Step:
        path = path_of(change.ref)
        kind = BY_NAME.get(change.ref.kind)
        if kind is None:
            raise InvalidRequest(f"{change.ref}: NSX driver does not manage kind {change.ref.kind}")
        current = self._read(path)
        if current is not None and owner_of(current) != change.owner:
            raise OwnershipConflict(
                f"{change.ref}: {path} exists but is tagged {OWNER_SCOPE}={owner_of(current)}, "
                f"not {change.owner}",
                hint="rename the app or remove the object in NSX; it is never adopted",
                resource=path,
            )
        if change.action is Action.DELETE:
            if current is None:
                return Step(change, path)  # not found: the delete is already done
            return Step(change, path, child=_child(kind, {"id": change.ref.name}, delete=True))
        if change.action is Action.NOOP:
            return Step(change, path)
        return self._upsert_step(change, kind=kind, path=path, current=current)

    def _upsert_step(
        self, change: Change, *, kind: NsxKind, path: str, current: dict[str, Any] | None
    ) -> Step:
        body = _desired_body(change, kind=kind)
        if current is None:
            return Step(change, path, child=_child(kind, body))
        observed = normalise(kind, current)
        if digest(observed) == digest(normalise(kind, body)):
            return Step(change, path)  # converged: writing would only bump _revision
        body["_revision"] = current["_revision"]
        if kind.merges and set(observed) - set(body):
            return Step(change, path, put=body)  # a PATCH merge cannot remove a field
        return Step(change, path, child=_child(kind, body))

    def _read(self, path: str) -> dict[str, Any] | None:
        try:
            body = self.client.get(path, what=path)
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def _write(self, steps: list[Step]) -> None:
        children = [s.child for s in sorted(steps, key=_order) if s.child is not None]
        if children:
            infra = {"resource_type": "Infra", "children": _nest(children, steps)}
            self.client.request(
                "PATCH",
                "/infra",
                what=f"hierarchical PATCH of {len(children)} object(s)",
                params={"enforce_revision_check": "true"},
                body=infra,
            )
        for step in steps:
            if step.put is not None:
                self.client.request("PUT", step.path, what=step.path, body=step.put)

    def _wait(self, steps: list[Step]) -> None:
        paths = [s.path for s in steps if s.writes and s.change.action is not Action.DELETE]
        if paths:
            wait_realized(
                self.client,
                paths,
                timeout=self.settings.realization_timeout_seconds,
                interval=self.settings.poll_seconds,
                clock=self.clock,
            )

    def _applied(self, step: Step) -> Applied:
        gone = step.change.action is Action.DELETE
        detail = {"request": "PUT" if step.put else "hierarchical PATCH"} if step.writes else {}
        if step.writes:
            log.info("change.applied", resource=str(step.change.ref), action=step.change.action)
        return Applied(
            step.change.ref,
            step.change.action,
            wrote=step.writes,
            external_id="" if gone else step.path,
            detail=detail,
        )

    # --- health ----------------------------------------------------------------------------

    def health(self, ref: ResourceRef) -> Health:
        """Ready when every realized entity of ``ref`` is REALIZED; failed on ERROR."""
        try:
            state, alarms = realization(self.client, path_of(ref))
        except NotFound:
            return Health(ready=False, message=f"{ref} does not exist")
        if state == "ERROR":
            return Health(ready=False, message=alarms, failed=True)
        return Health(ready=state == "REALIZED", message=state.lower())


def _desired_body(change: Change, *, kind: NsxKind) -> dict[str, Any]:
    if change.desired is None:
        raise InvalidRequest(f"{change.ref}: a {change.action} change carries no desired spec")
    body = dict(change.desired.spec)
    if body.get("resource_type", kind.resource_type) != kind.resource_type:
        raise InvalidRequest(
            f"{change.ref}: spec has resource_type {body.get('resource_type')!r}",
            hint=f"render it as {kind.resource_type}",
        )
    if body.get("id", change.ref.name) != change.ref.name:
        raise InvalidRequest(f"{change.ref}: spec id {body.get('id')!r} differs from the name")
    tags = [t for t in body.get("tags") or [] if t.get("scope") != OWNER_SCOPE]
    body["tags"] = [*tags, {"scope": OWNER_SCOPE, "tag": str(change.owner)}]
    return {**body, "resource_type": kind.resource_type, "id": change.ref.name}


def _child(kind: NsxKind, body: dict[str, Any], *, delete: bool = False) -> dict[str, Any]:
    inner = {**body, "resource_type": kind.resource_type}
    if delete:
        inner["marked_for_delete"] = True
        return {
            "resource_type": f"Child{kind.resource_type}",
            kind.resource_type: inner,
            "marked_for_delete": True,
        }
    return {"resource_type": f"Child{kind.resource_type}", kind.resource_type: inner}


def _order(step: Step) -> int:
    return CREATE_ORDER.index(step.change.ref.kind)


def _nest(children: list[dict[str, Any]], steps: list[Step]) -> list[dict[str, Any]]:
    """Top-level children as they are; domain kinds under a reference to their domain."""
    top: list[dict[str, Any]] = []
    nested: dict[str, list[dict[str, Any]]] = {}
    for child in children:
        kind = BY_NAME[child["resource_type"][len("Child") :]]
        if not kind.in_domain:
            top.append(child)
            continue
        step = next(s for s in steps if s.child is child)
        nested.setdefault(step.change.ref.scope or "default", []).append(child)
    for domain, inner in sorted(nested.items()):
        top.append(
            {
                "resource_type": "ChildResourceReference",
                "id": domain,
                "target_type": "Domain",
                "children": inner,
            }
        )
    return top
