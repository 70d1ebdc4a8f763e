"""What NSX fills in is normalised away, so that a converged object has its desired digest."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.nsx.kinds import BY_NAME, normalise, owner_of

SERVER = {
    "_revision": 3,
    "_create_time": 1,
    "_create_user": "admin",
    "_last_modified_time": 2,
    "_last_modified_user": "admin",
    "_system_owned": False,
    "_protection": "NOT_PROTECTED",
    "path": "/infra/x",
    "parent_path": "/infra",
    "relative_path": "x",
    "unique_id": "u",
    "realization_id": "u",
    "marked_for_delete": False,
    "overridden": False,
}
TAGS = [{"scope": "z", "tag": "1"}, {"scope": "rxt.owner", "tag": "a/b/c/d"}]
SORTED_TAGS = [TAGS[1], TAGS[0]]

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "Segment",
        {
            "id": "x",
            "admin_state": "UP",
            "replication_mode": "MTEP",
            "type": "ROUTED",
            "subnets": [{"gateway_address": "10.0.0.1/24", "network": "10.0.0.0/24"}],
            "tags": TAGS,
        },
        {"id": "x", "subnets": [{"gateway_address": "10.0.0.1/24"}], "tags": SORTED_TAGS},
    ),
    (
        "Segment",
        {"id": "x", "admin_state": "DOWN"},
        {"id": "x", "admin_state": "DOWN"},
    ),
    (
        "Group",
        {
            "id": "g",
            "expression": [
                {"resource_type": "PathExpression", "paths": ["/p"], "id": "e1", **SERVER}
            ],
        },
        {"id": "g", "expression": [{"resource_type": "PathExpression", "paths": ["/p"]}]},
    ),
    (
        "SecurityPolicy",
        {
            "id": "p",
            "stateful": True,
            "locked": False,
            "scope": ["ANY"],
            "rule_count": 2,
            "internal_sequence_number": 7,
            "sequence_number": 0,
            "rules": [
                {
                    "id": "b",
                    "sequence_number": 20,
                    "action": "DROP",
                    "direction": "IN_OUT",
                    "logged": True,
                    "rule_id": 1002,
                    **SERVER,
                },
                {
                    "id": "a",
                    "sequence_number": 10,
                    "action": "ALLOW",
                    "ip_protocol": "IPV4_IPV6",
                    "scope": ["ANY"],
                    "profiles": ["ANY"],
                    "disabled": False,
                    "rule_id": 1001,
                },
            ],
        },
        {
            "id": "p",
            "rules": [
                {"id": "a", "sequence_number": 10, "action": "ALLOW"},
                {"id": "b", "sequence_number": 20, "action": "DROP", "logged": True},
            ],
        },
    ),
    (
        "LBPool",
        {
            "id": "pool",
            "algorithm": "ROUND_ROBIN",
            "min_active_members": 1,
            "tcp_multiplexing_enabled": False,
            "tcp_multiplexing_number": 6,
            "snat_translation": {"type": "LBSnatAutoMap"},
            "members": [
                {
                    "ip_address": "10.0.0.5",
                    "port": "80",
                    "admin_state": "ENABLED",
                    "weight": 1,
                    "backup_member": False,
                }
            ],
        },
        {"id": "pool", "members": [{"ip_address": "10.0.0.5", "port": "80"}]},
    ),
    (
        "LBPool",
        {"id": "pool", "algorithm": "LEAST_CONNECTION", "members": [{"weight": 3}]},
        {"id": "pool", "algorithm": "LEAST_CONNECTION", "members": [{"weight": 3}]},
    ),
    (
        "LBVirtualServer",
        {
            "id": "vs",
            "enabled": True,
            "access_log_enabled": False,
            "log_significant_event_only": False,
            "ports": ["443"],
        },
        {"id": "vs", "ports": ["443"]},
    ),
]


@pytest.mark.parametrize(("kind", "read", "spec"), CASES)
def test_server_fields_and_defaults_are_normalised_away(
    kind: str, read: dict[str, Any], spec: dict[str, Any]
) -> None:
    assert normalise(BY_NAME[kind], {**read, **SERVER}) == spec


@pytest.mark.parametrize(("kind", "read", "spec"), CASES)
def test_normalising_twice_changes_nothing(
    kind: str, read: dict[str, Any], spec: dict[str, Any]
) -> None:
    assert normalise(BY_NAME[kind], spec) == spec


@pytest.mark.parametrize(
    ("tags", "owner"),
    [
        (TAGS, "a/b/c/d"),
        ([{"scope": "rxt.owner", "tag": "not-a-key"}], None),
        ([{"scope": "other", "tag": "a/b/c/d"}], None),
        (None, None),
    ],
)
def test_the_owner_is_read_from_the_rxt_owner_tag(tags: Any, owner: str | None) -> None:
    found = owner_of({"tags": tags})
    assert (str(found) if found else None) == owner
