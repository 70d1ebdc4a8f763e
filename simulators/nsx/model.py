"""What the fake NSX knows about each object type: where it lives, its defaults, its references.

The store consults this table to validate writes, fill in what NSX fills in, and check paths.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/policy/api/v1"

# Fields NSX computes itself; ignored on input and written on every read.
SERVER_FIELDS = frozenset(
    {
        "_revision",
        "_create_time",
        "_create_user",
        "_last_modified_time",
        "_last_modified_user",
        "_system_owned",
        "_protection",
        "path",
        "parent_path",
        "relative_path",
        "unique_id",
        "realization_id",
        "marked_for_delete",
        "overridden",
    }
)


class ApiError(Exception):
    """An error answer in the body shape NSX uses (PolicyApiError plus httpStatus)."""

    def __init__(
        self, status: int, error_code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, *, code: int = 500012) -> ApiError:
    return ApiError(400, code, message)


@dataclass(frozen=True)
class Kind:
    """One object type: its ``resource_type``, its collection name and its parent's type."""

    resource_type: str
    collection: str
    parent: str
    writable: bool = True
    defaults: dict[str, Any] = field(default_factory=dict)
    # Dotted fields holding policy paths; ``[]`` descends into every element of a list.
    references: tuple[str, ...] = ()
    # PATCH replaces the whole object here, as the NSX reference documents for these types.
    patch_replaces: bool = False
    entity_type: str = ""


KINDS: tuple[Kind, ...] = (
    Kind("Domain", "domains", "Infra", writable=False),
    Kind("Tier1", "tier-1s", "Infra", writable=False, entity_type="RealizedLogicalRouter"),
    Kind(
        "Segment",
        "segments",
        "Infra",
        defaults={"admin_state": "UP", "replication_mode": "MTEP"},
        references=("connectivity_path", "transport_zone_path"),
        entity_type="RealizedLogicalSwitch",
    ),
    Kind(
        "Group",
        "groups",
        "Domain",
        references=("expression[].paths[]",),
        entity_type="RealizedNSGroup",
    ),
    Kind(
        "SecurityPolicy",
        "security-policies",
        "Domain",
        defaults={"stateful": True, "locked": False, "scope": ["ANY"], "sequence_number": 0},
        references=("scope[]",),
        patch_replaces=True,
        entity_type="RealizedFirewallSection",
    ),
    Kind(
        "Rule",
        "rules",
        "SecurityPolicy",
        defaults={
            "direction": "IN_OUT",
            "ip_protocol": "IPV4_IPV6",
            "logged": False,
            "disabled": False,
            "scope": ["ANY"],
            "profiles": ["ANY"],
            "sequence_number": 0,
        },
        references=("source_groups[]", "destination_groups[]", "services[]", "scope[]"),
        entity_type="RealizedFirewallRule",
    ),
    Kind("LBService", "lb-services", "Infra", writable=False, references=("connectivity_path",)),
    Kind(
        "LBPool",
        "lb-pools",
        "Infra",
        defaults={
            "algorithm": "ROUND_ROBIN",
            "min_active_members": 1,
            "tcp_multiplexing_enabled": False,
            "tcp_multiplexing_number": 6,
            "snat_translation": {"type": "LBSnatAutoMap"},
        },
        references=("member_group.group_path", "active_monitor_paths[]"),
        entity_type="RealizedLBPool",
    ),
    Kind(
        "LBVirtualServer",
        "lb-virtual-servers",
        "Infra",
        defaults={
            "enabled": True,
            "access_log_enabled": False,
            "log_significant_event_only": False,
        },
        references=(
            "lb_service_path",
            "pool_path",
            "application_profile_path",
            "lb_persistence_profile_path",
            "client_ssl_profile_binding.default_certificate_path",
            "client_ssl_profile_binding.ssl_profile_path",
            "client_ssl_profile_binding.sni_certificate_paths[]",
        ),
        patch_replaces=True,
        entity_type="RealizedLBVirtualServer",
    ),
    Kind("TlsTrustData", "certificates", "Infra", entity_type="RealizedCertificate"),
    Kind("Service", "services", "Infra", writable=False),
    Kind("LBHttpProfile", "lb-app-profiles", "Infra", writable=False),
    Kind("LBClientSslProfile", "lb-client-ssl-profiles", "Infra", writable=False),
    Kind("LBHttpMonitorProfile", "lb-monitor-profiles", "Infra", writable=False),
)

BY_COLLECTION = {(kind.parent, kind.collection): kind for kind in KINDS}
BY_TYPE = {kind.resource_type: kind for kind in KINDS}

MEMBER_DEFAULTS = {"admin_state": "ENABLED", "weight": 1, "backup_member": False}
ENUMS = {
    ("Rule", "action"): {"ALLOW", "DROP", "REJECT", "JUMP_TO_APPLICATION"},
    ("Rule", "direction"): {"IN", "OUT", "IN_OUT"},
    ("Rule", "ip_protocol"): {"IPV4", "IPV6", "IPV4_IPV6"},
    ("Segment", "admin_state"): {"UP", "DOWN"},
    ("LBPool", "algorithm"): {
        "ROUND_ROBIN",
        "WEIGHTED_ROUND_ROBIN",
        "LEAST_CONNECTION",
        "WEIGHTED_LEAST_CONNECTION",
        "IP_HASH",
    },
}
REQUIRED = {
    "Rule": ("action",),
    "LBVirtualServer": ("ip_address", "ports", "application_profile_path"),
    "TlsTrustData": ("pem_encoded",),
}


def kind_of(path: str) -> Kind:
    """The kind of the object at ``path`` (``/infra/...``); raises 400 for an unknown path."""
    parts = path.strip("/").split("/")
    if not parts or parts[0] != "infra" or len(parts) % 2 == 0:
        raise ApiError(404, 202, f"Path=[{path}] is not a policy object path.")
    parent = "Infra"
    kind: Kind | None = None
    for index in range(1, len(parts), 2):
        kind = BY_COLLECTION.get((parent, parts[index]))
        if kind is None:
            raise ApiError(404, 202, f"Path=[{path}] is not supported by this NSX fake.")
        parent = kind.resource_type
    assert kind is not None
    return kind


def parent_path(path: str) -> str:
    """The path of the object above ``path``; ``/infra`` for top-level objects."""
    return path.rsplit("/", 2)[0]


def with_defaults(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with NSX's defaults filled in where the caller left a field out."""
    filled = {**copy.deepcopy(kind.defaults), **body}
    filled.setdefault("display_name", body.get("id", ""))
    if kind.resource_type == "LBPool" and isinstance(filled.get("members"), list):
        filled["members"] = [{**MEMBER_DEFAULTS, **m} for m in filled["members"]]
    if kind.resource_type == "Segment" and isinstance(filled.get("subnets"), list):
        filled["subnets"] = [_with_network(subnet) for subnet in filled["subnets"]]
    return filled


def _with_network(subnet: dict[str, Any]) -> dict[str, Any]:
    # NSX derives the subnet's network from its gateway address and returns it on reads.
    gateway = subnet.get("gateway_address")
    try:
        network = ipaddress.ip_interface(str(gateway)).network
    except ValueError as error:
        raise bad_request(f"Invalid gateway_address [{gateway}] in segment subnet.") from error
    return {**subnet, "network": str(network)}


def validate(kind: Kind, body: dict[str, Any]) -> None:
    """Refuse a body of the wrong type, with a missing required field or an unknown value."""
    if body.get("resource_type", kind.resource_type) != kind.resource_type:
        raise bad_request(
            f"resource_type [{body.get('resource_type')}] does not match [{kind.resource_type}]."
        )
    for name in REQUIRED.get(kind.resource_type, ()):
        if body.get(name) in (None, "", []):
            raise bad_request(f"Field [{name}] is required for {kind.resource_type}.")
    for (type_name, name), allowed in ENUMS.items():
        if type_name == kind.resource_type and name in body and body[name] not in allowed:
            raise bad_request(f"Field [{name}] has an invalid value [{body[name]}].")


def referenced_paths(kind: Kind, body: dict[str, Any]) -> list[str]:
    """Every policy path ``body`` points at through the kind's reference fields."""
    found: list[str] = []
    for dotted in kind.references:
        found.extend(_walk(body, dotted.split(".")))
    return [path for path in found if isinstance(path, str) and path.startswith("/")]


def _walk(value: Any, steps: list[str]) -> list[Any]:
    if not steps:
        return [value]
    step, rest = steps[0], steps[1:]
    name, many = (step[:-2], True) if step.endswith("[]") else (step, False)
    if not isinstance(value, dict) or name not in value:
        if isinstance(value, list):
            return [hit for item in value for hit in _walk(item, steps)]
        return []
    inner = value[name]
    if many and isinstance(inner, list):
        return [hit for item in inner for hit in _walk(item, rest)]
    return _walk(inner, rest)
