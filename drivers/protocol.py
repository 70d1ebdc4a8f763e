"""The contract every platform driver keeps; the reconciler calls drivers only through it.

Drivers never import each other or the planner; they speak ``core.resources`` values and raise
``core.errors.PlatformError`` subclasses, never SDK exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from core.resources import Action, Change, ObservedResource, ResourceRef


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one environment lives on one platform.

    Attributes:
        tenant: the tenant's DNS label.
        environment: the environment's DNS label.
        site: the platform settings of ``environment.yaml`` for this driver, e.g.
            ``{"namespace": "acme-prod"}`` for Kubernetes or ``{"folder": ..., "cluster": ...}``.
    """

    tenant: str
    environment: str
    site: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of applying one change.

    Attributes:
        wrote: False when the platform already matched and nothing was written.
        external_id: the platform's id of the object after apply (empty after a delete).
        detail: short facts for the audit entry (task id, new resourceVersion), no secrets.
    """

    ref: ResourceRef
    action: Action
    wrote: bool
    external_id: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    """Whether an applied object is ready for what depends on it."""

    ready: bool
    message: str = ""
    failed: bool = False


@runtime_checkable
class Driver(Protocol):
    """One platform's driver.

    ``observe`` makes as few bulk reads as the platform allows and returns every object in the
    scope that carries our ownership marker, plus objects whose names collide with ours.
    ``apply`` is idempotent and safe to retry: applying a converged change writes nothing.
    """

    platform: ClassVar[str]

    def observe(self, scope: Scope) -> list[ObservedResource]:
        """Read every managed object of ``scope``, normalised.

        Raises:
            PlatformError: a subclass saying whether to retry.
        """
        ...

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        """Carry out one change; with ``dry_run`` the platform validates but keeps nothing.

        Raises:
            PlatformError: a subclass saying whether to retry; ``NotFound`` is never raised
                for a delete.
        """
        ...

    def health(self, ref: ResourceRef) -> Health:
        """Report whether an applied object is ready."""
        ...
