"""The Kubernetes driver: observe by label, server-side apply as ``rxt-deploy``, guarded prune.

The reconciler builds one per cluster (``KubernetesDriver.from_kubeconfig``) and calls it
through ``drivers.protocol.Driver``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from core.errors import ConfigError, InvalidRequest, NotFound, OwnershipConflict, TransientError
from core.hashing import digest
from core.logs import get_logger
from core.resources import Action, Change, ObservedResource, Platform, ResourceRef
from core.secrets import SecretSource
from drivers.kubernetes import health as rollout
from drivers.kubernetes.kinds import (
    FIELD_MANAGER,
    GATED_KINDS,
    MANAGED_KINDS,
    ManagedKind,
    managed_kind,
    selector,
)
from drivers.kubernetes.normalising import normalise, owner_of
from drivers.kubernetes.rest import APPLY_PATCH, Rest, retry_policy
from drivers.kubernetes.secret_data import with_data
from drivers.protocol import Applied, Health, Scope

log = get_logger(driver="kubernetes")


class KubernetesDriver:
    """One cluster, through the official client.

    Args:
        client: an ``ApiClient`` configured for the cluster (see ``from_kubeconfig``); give
            its configuration ``retries=retry_policy()`` so 429 and 503 reach the reconciler.
        secrets: where Secret data comes from at apply time; without it, a Secret that
            references values cannot be applied.
        timeout: seconds per request.
        clock: monotonic seconds, for rollout deadlines.
    """

    platform: ClassVar[str] = Platform.KUBERNETES.value

    def __init__(
        self,
        client: ApiClient,
        *,
        secrets: SecretSource | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = Rest(client, timeout=timeout)
        self._secrets = secrets
        self._clock = clock
        self._applied_at: dict[ResourceRef, float] = {}

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path, *, context: str | None = None, secrets: SecretSource | None = None
    ) -> KubernetesDriver:
        """A driver for the cluster of ``context`` (the current one by default) in ``path``."""
        configuration = Configuration()
        try:
            load: Any = kube_config.load_kube_config  # the SDK is untyped
            load(config_file=str(path), context=context, client_configuration=configuration)
        except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as error:
            raise ConfigError(
                f"cannot read kubeconfig {path}: {error}",
                hint="point the engine at a readable kubeconfig with a valid current context",
            ) from error
        configuration.retries = retry_policy()
        return cls(ApiClient(configuration), secrets=secrets)

    def close(self) -> None:
        """Release the client's connections."""
        self._rest.client.close()

    # -- observe ------------------------------------------------------------------------------

    def observe(self, scope: Scope) -> list[ObservedResource]:
        """Every object we manage in the environment's namespace: one LIST per kind."""
        namespace = _namespace(scope)
        found: list[ObservedResource] = []
        for kind in MANAGED_KINDS:
            query = {"labelSelector": selector(scope.environment)}
            if not kind.namespaced:
                query["fieldSelector"] = f"metadata.name={namespace}"
            answer = self._rest.call(
                "GET",
                kind.collection(namespace),
                resource=f"{kind.plural} in {namespace}",
                query=query,
            )
            for item in answer.get("items") or []:
                found.append(
                    _observed({**item, "apiVersion": kind.api_version, "kind": kind.kind}, kind)
                )
        log.debug("objects.observed", namespace=namespace, count=len(found))
        return found

    # -- apply --------------------------------------------------------------------------------

    def apply(self, change: Change, *, dry_run: bool = False, approved: bool = False) -> Applied:
        """Carry out ``change``; see ``docs/simulators/kubernetes.md`` for the delete gate.

        Args:
            approved: a person approved this change (the same as ``change.approved``); a
                delete of a Namespace or a PersistentVolumeClaim needs it together with
                ``change.needs_approval``.
        """
        approved = approved or change.approved
        kind = _kind(change.ref)
        if change.action is Action.DELETE:
            return self._delete(change, kind, dry_run=dry_run, approved=approved)
        if change.action is Action.NOOP:
            return Applied(change.ref, change.action, wrote=False)
        if change.desired is None:
            raise InvalidRequest(f"{change.action} of {change.ref} carries no desired object")
        if change.action is Action.REPLACE:
            # Delete, then create: the gate of claims and namespaces holds here too.
            self._delete(change, kind, dry_run=dry_run, approved=approved)
            if dry_run:
                return Applied(change.ref, change.action, wrote=True, detail={"dryRun": True})
        return self._apply(change, kind, dry_run=dry_run)

    def _apply(self, change: Change, kind: ManagedKind, *, dry_run: bool) -> Applied:
        desired = change.desired
        assert desired is not None
        current = self._read(kind, change.ref)
        if current is not None:
            if owner_of(current) != change.owner:
                raise _not_ours(change, current)
            if digest(normalise(current, kind)) == desired.digest:
                return Applied(
                    change.ref, change.action, wrote=False, external_id=_uid(current),
                    detail=_rv(current),
                )  # fmt: skip
        tenant = change.owner.tenant
        body = with_data(desired, source=self._secrets, tenant=tenant, read=not dry_run)
        query = {"fieldManager": FIELD_MANAGER}
        if current is not None:
            query["force"] = "true"  # only on objects that carry our markers, checked above
        if dry_run:
            query["dryRun"] = "All"
        try:
            answer = self._rest.call(
                "PATCH", kind.item(change.ref.scope, change.ref.name), resource=str(change.ref),
                query=query, body=body, content_type=APPLY_PATCH,
            )  # fmt: skip
        except NotFound:
            if not dry_run or not kind.namespaced or self._namespace_exists(change.ref.scope):
                raise
            return _previewed_without_namespace(change)
        return self._applied(change, answer, dry_run=dry_run)

    def _applied(self, change: Change, answer: dict[str, Any], *, dry_run: bool) -> Applied:
        if not dry_run:
            self._applied_at[change.ref] = self._clock()
        action, resource = str(change.action), str(change.ref)
        log.info("change.applied", resource=resource, action=action, dry_run=dry_run)
        detail = {"dryRun": True} if dry_run else _rv(answer)
        return Applied(
            change.ref, change.action, wrote=True, external_id=_uid(answer), detail=detail
        )

    def _delete(
        self, change: Change, kind: ManagedKind, *, dry_run: bool, approved: bool
    ) -> Applied:
        gated = kind.kind in GATED_KINDS
        if gated and not dry_run and not (change.needs_approval and approved):
            raise InvalidRequest(
                f"refusing to delete {change.ref}: a {kind.kind} is deleted only with approval",
                hint="plan the delete with needs_approval and apply it with approved=True "
                "after a person approved it",
                resource=str(change.ref),
            )
        current = self._read(kind, change.ref)
        if current is None:
            return Applied(change.ref, change.action, wrote=False)
        if owner_of(current) != change.owner:
            raise _not_ours(change, current)
        seen = change.observed.external_id if change.observed else ""
        if seen and seen != _uid(current):
            raise TransientError(
                f"{change.ref} was re-created since it was observed; not deleting the new one",
                hint="observe again and re-plan",
                resource=str(change.ref),
            )
        return self._send_delete(change, kind, current, dry_run=dry_run)

    def _send_delete(
        self, change: Change, kind: ManagedKind, current: dict[str, Any], *, dry_run: bool
    ) -> Applied:
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {
                "uid": _uid(current),
                "resourceVersion": _rv(current)["resourceVersion"],
            },
        }
        if dry_run:
            options["dryRun"] = ["All"]
        try:
            self._rest.call(
                "DELETE",
                kind.item(change.ref.scope, change.ref.name),
                resource=str(change.ref),
                body=options,
            )
        except NotFound:
            return Applied(change.ref, change.action, wrote=False)
        if not dry_run:
            self._applied_at.pop(change.ref, None)
        log.info("object.deleted", resource=str(change.ref), dry_run=dry_run)
        return Applied(
            change.ref, change.action, wrote=True, detail={"dryRun": True} if dry_run else {}
        )

    # -- health -------------------------------------------------------------------------------

    def health(self, ref: ResourceRef) -> Health:
        """kubectl's rollout verdict for Deployments, a published address for Ingresses."""
        current = self._read(_kind(ref), ref)
        if current is None:
            return Health(ready=False, message=f"{ref} does not exist")
        started = self._applied_at.get(ref)
        elapsed = None if started is None else self._clock() - started
        return rollout.judge(current, elapsed=elapsed)

    # -- helpers ------------------------------------------------------------------------------

    def _namespace_exists(self, name: str) -> bool:
        namespaces = managed_kind("Namespace")
        assert namespaces is not None
        return (
            self._read(namespaces, ResourceRef(Platform.KUBERNETES, "Namespace", name)) is not None
        )

    def _read(self, kind: ManagedKind, ref: ResourceRef) -> dict[str, Any] | None:
        try:
            found = self._rest.call("GET", kind.item(ref.scope, ref.name), resource=str(ref))
        except NotFound:
            return None
        return {**found, "apiVersion": kind.api_version, "kind": kind.kind}


def _namespace(scope: Scope) -> str:
    namespace = scope.site.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise ConfigError(
            f"environment {scope.tenant}/{scope.environment} has no Kubernetes namespace",
            hint="set kubernetes.namespace for this environment in environment.yaml",
        )
    return namespace


def _kind(ref: ResourceRef) -> ManagedKind:
    kind = managed_kind(ref.kind)
    if kind is None:
        raise InvalidRequest(
            f"{ref}: the Kubernetes driver does not manage kind {ref.kind!r}",
            hint="render only the kinds listed in docs/resource-specs.md",
            resource=str(ref),
        )
    return kind


def _observed(obj: dict[str, Any], kind: ManagedKind) -> ObservedResource:
    meta = obj["metadata"]
    ref = ResourceRef(Platform.KUBERNETES, kind.kind, meta["name"], meta.get("namespace", ""))
    return ObservedResource(
        ref=ref,
        owner=owner_of(obj),
        spec=normalise(obj, kind),
        external_id=_uid(obj),
        version=str(meta.get("resourceVersion", "")),
        status=obj.get("status") or {},
    )


def _uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def _rv(obj: dict[str, Any]) -> dict[str, str]:
    return {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion", ""))}


def _previewed_without_namespace(change: Change) -> Applied:
    # A preview of a new environment: its namespace is itself only previewed.
    why = f"namespace {change.ref.scope} does not exist yet; not validated by the server"
    return Applied(change.ref, change.action, wrote=True, detail={"dryRun": True, "note": why})


def _not_ours(change: Change, current: dict[str, Any]) -> OwnershipConflict:
    owner = owner_of(current)
    held = f"owner {owner}" if owner else "no rxt-deploy ownership markers"
    return OwnershipConflict(
        f"{change.ref} exists with {held}; it is not {change.owner}'s to change",
        hint="rename the component, or have its owner delete it; the engine never adopts "
        "objects it did not create",
        resource=str(change.ref),
    )
