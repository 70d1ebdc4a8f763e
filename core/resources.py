"""Resource references and the desired, observed and changed resources drivers share.

The planner renders ``DesiredResource`` values, drivers return ``ObservedResource`` values,
and the planner's diff turns the two into ``Change`` values that drivers apply.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from core.hashing import digest

JsonObject = dict[str, Any]
"""A JSON object we do not own the shape of (a Kubernetes object, an NSX body)."""


class Platform(enum.StrEnum):
    """Where a resource lives."""

    KUBERNETES = "kubernetes"
    VSPHERE = "vsphere"
    NSX = "nsx"
    VAULT = "vault"


@dataclass(frozen=True, slots=True, order=True)
class OwnerKey:
    """The stable identity of what the engine manages: ``tenant/environment/app/component``."""

    tenant: str
    environment: str
    app: str
    component: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.environment}/{self.app}/{self.component}"

    @classmethod
    def parse(cls, text: str) -> OwnerKey:
        """Read a key written by ``str()``; raises ``ValueError`` on any other shape."""
        parts = text.split("/")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"not an owner key (tenant/environment/app/component): {text!r}")
        return cls(*parts)


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """One object on one platform: its kind, its deterministic name, and its scope.

    ``scope`` is the namespace on Kubernetes, the folder on vSphere, the domain on NSX and
    the mount on Vault; empty where the kind has none.
    """

    platform: Platform
    kind: str
    name: str
    scope: str = ""

    def __str__(self) -> str:
        where = f"{self.scope}/" if self.scope else ""
        return f"{self.platform.value}:{self.kind}/{where}{self.name}"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a Vault KV v2 value; the value itself never enters a plan."""

    path: str
    key: str
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.path}#{self.key}"


@dataclass(frozen=True)
class DesiredResource:
    """What the manifests ask for, rendered for one platform.

    Attributes:
        ref: the object's reference.
        owner: the owner key, also written onto the object as its ownership marker.
        spec: the managed fields only, normalised the way the driver normalises what it reads.
        depends_on: references that must exist (and be healthy) before this one is applied.
        immutable: dotted paths in ``spec`` whose change forces a replace.
        secrets: references to secret values that the driver resolves at apply time.
    """

    ref: ResourceRef
    owner: OwnerKey
    spec: Mapping[str, Any]
    depends_on: tuple[ResourceRef, ...] = ()
    immutable: tuple[str, ...] = ()
    secrets: tuple[SecretRef, ...] = ()

    @cached_property
    def digest(self) -> str:
        """The canonical digest of ``spec``; equal digests mean nothing to change."""
        return digest(self.spec)


@dataclass(frozen=True)
class ObservedResource:
    """What a driver read back from a platform, normalised.

    Attributes:
        ref: the object's reference.
        owner: the ownership marker found on the object; ``None`` when it carries none,
            which makes an object with our name an ownership conflict.
        spec: the same managed fields as ``DesiredResource.spec``, normalised.
        external_id: the platform's own id (Kubernetes uid, vSphere moref, NSX path).
        version: the platform's concurrency token (resourceVersion, ``_revision``).
        status: read-only facts (health, power state) that never count as drift.
    """

    ref: ResourceRef
    owner: OwnerKey | None
    spec: Mapping[str, Any]
    external_id: str = ""
    version: str = ""
    status: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def digest(self) -> str:
        """The canonical digest of ``spec``, comparable with ``DesiredResource.digest``."""
        return digest(self.spec)


class Action(enum.StrEnum):
    """What a change does, in the words of a Terraform plan."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One changed field: a dotted path, its value before and after (``None`` when absent)."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    """One step of a plan: an action on one resource, with the field diffs that justify it.

    Attributes:
        needs_approval: a person must approve before apply (confirmPrune, power cycles).
        approved: a person did approve it; drivers refuse gated work (deleting a volume or a
            namespace, a VM power cycle) unless both ``needs_approval`` and this are set.
        reason: why the action was chosen, for people ("template changed", "pruned").
    """

    action: Action
    ref: ResourceRef
    owner: OwnerKey
    desired: DesiredResource | None = None
    observed: ObservedResource | None = None
    diffs: tuple[FieldDiff, ...] = ()
    needs_approval: bool = False
    reason: str = ""
    approved: bool = False
