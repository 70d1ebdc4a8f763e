"""The NSX kinds the driver manages, their policy paths, and how their specs are normalised.

The driver uses ``KINDS`` to build paths and hierarchical children and ``normalise`` on every
object it reads, so that a converged object has the digest of its desired spec.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from core.resources import OwnerKey, Platform, ResourceRef

OWNER_SCOPE = "rxt.owner"

# What NSX fills in on every object (docs/resource-specs.md), plus the API's own links.
SERVER_FIELDS = frozenset(
    {
        "_revision",
        "_create_time",
        "_create_user",
        "_last_modified_time",
        "_last_modified_user",
        "_system_owned",
        "_protection",
        "_links",
        "_self",
        "_schema",
        "path",
        "parent_path",
        "relative_path",
        "unique_id",
        "realization_id",
        "marked_for_delete",
        "overridden",
        "origin_site_id",
        "owner_id",
        "remote_path",
    }
)


@dataclass(frozen=True)
class NsxKind:
    """One managed kind: its ``ref.kind``, ``resource_type`` and collection.

    Attributes:
        in_domain: lives under ``/infra/domains/{domain}``.
        merges: a PATCH merges top-level fields (so removing a field needs a PUT); False where
            NSX documents PATCH as a full replace (security policies, virtual servers).
        computed: top-level fields NSX computes for this kind; never part of a spec.
        defaults: values NSX fills in when a field is left out; dropped when equal.
    """

    name: str
    resource_type: str
    collection: str
    in_domain: bool = False
    merges: bool = True
    computed: frozenset[str] = frozenset()
    defaults: dict[str, Any] = field(default_factory=dict)


RULE_DEFAULTS: dict[str, Any] = {
    "direction": "IN_OUT",
    "ip_protocol": "IPV4_IPV6",
    "logged": False,
    "disabled": False,
    "scope": ["ANY"],
    "profiles": ["ANY"],
    "sequence_number": 0,
}
RULE_COMPUTED = frozenset({"rule_id", "is_default"})
MEMBER_DEFAULTS: dict[str, Any] = {"admin_state": "ENABLED", "weight": 1, "backup_member": False}

# Listed dependents first, so that deleting in observed order never deletes a referenced object.
KINDS: tuple[NsxKind, ...] = (
    NsxKind(
        "LBVirtualServer",
        "LBVirtualServer",
        "lb-virtual-servers",
        merges=False,
        defaults={
            "enabled": True,
            "access_log_enabled": False,
            "log_significant_event_only": False,
        },
    ),
    NsxKind(
        "LBPool",
        "LBPool",
        "lb-pools",
        defaults={
            "algorithm": "ROUND_ROBIN",
            "min_active_members": 1,
            "tcp_multiplexing_enabled": False,
            "tcp_multiplexing_number": 6,
            "snat_translation": {"type": "LBSnatAutoMap"},
        },
    ),
    NsxKind(
        "SecurityPolicy",
        "SecurityPolicy",
        "security-policies",
        in_domain=True,
        merges=False,
        computed=frozenset({"rule_count", "internal_sequence_number", "is_default"}),
        defaults={"stateful": True, "locked": False, "scope": ["ANY"], "sequence_number": 0},
    ),
    NsxKind("Group", "Group", "groups", in_domain=True, computed=frozenset({"state"})),
    NsxKind(
        "Segment",
        "Segment",
        "segments",
        computed=frozenset({"type", "overlay_id"}),
        defaults={"admin_state": "UP", "replication_mode": "MTEP"},
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}
# Order of children inside one hierarchical PATCH: what others reference comes first.
CREATE_ORDER = ("Segment", "Group", "SecurityPolicy", "LBPool", "LBVirtualServer")


def collection_path(kind: NsxKind, *, domain: str) -> str:
    prefix = f"/infra/domains/{domain}" if kind.in_domain else "/infra"
    return f"{prefix}/{kind.collection}"


def path_of(ref: ResourceRef) -> str:
    """The policy path of ``ref``, e.g. ``/infra/domains/default/groups/web``."""
    kind = BY_NAME[ref.kind]
    return f"{collection_path(kind, domain=ref.scope or 'default')}/{ref.name}"


def ref_of(kind: NsxKind, body: dict[str, Any], *, domain: str) -> ResourceRef:
    return ResourceRef(Platform.NSX, kind.name, str(body["id"]), domain if kind.in_domain else "")


def owner_of(body: dict[str, Any]) -> OwnerKey | None:
    """The owner key in the ``rxt.owner`` tag, or None when there is none (or it is garbled)."""
    for tag in body.get("tags") or []:
        if isinstance(tag, dict) and tag.get("scope") == OWNER_SCOPE:
            try:
                return OwnerKey.parse(str(tag.get("tag", "")))
            except ValueError:
                return None
    return None


def normalise(kind: NsxKind, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` in the spec shape of docs/resource-specs.md: no server fields, no defaults."""
    spec: dict[str, Any] = _drop_defaults(_strip(body, kind.computed), kind.defaults)
    if isinstance(spec.get("tags"), list):
        spec["tags"] = sorted(spec["tags"], key=lambda t: (t.get("scope", ""), t.get("tag", "")))
    if kind.name == "Segment" and isinstance(spec.get("subnets"), list):
        spec["subnets"] = [_without(s, {"network"}) for s in spec["subnets"]]
    if kind.name == "Group" and isinstance(spec.get("expression"), list):
        spec["expression"] = [_without(e, {"id"}) for e in spec["expression"]]
    if kind.name == "LBPool" and isinstance(spec.get("members"), list):
        spec["members"] = [_drop_defaults(m, MEMBER_DEFAULTS) for m in spec["members"]]
    if kind.name == "SecurityPolicy" and isinstance(spec.get("rules"), list):
        rules = [_drop_defaults(_strip(r, RULE_COMPUTED), RULE_DEFAULTS) for r in spec["rules"]]
        spec["rules"] = sorted(rules, key=lambda r: (r.get("sequence_number", 0), r.get("id", "")))
    return spec


def _strip(value: Any, computed: frozenset[str]) -> Any:
    # Server fields appear at every depth (rules, expressions); computed ones only at the top.
    if isinstance(value, dict):
        return {
            k: _strip(v, frozenset()) for k, v in value.items() if k not in SERVER_FIELDS | computed
        }
    if isinstance(value, list):
        return [_strip(v, frozenset()) for v in value]
    return copy.deepcopy(value)


def _drop_defaults(body: Any, defaults: dict[str, Any]) -> Any:
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if not (k in defaults and defaults[k] == v)}


def _without(value: Any, keys: set[str]) -> Any:
    return {k: v for k, v in value.items() if k not in keys} if isinstance(value, dict) else value
