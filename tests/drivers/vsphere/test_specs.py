"""Reading VM specs back: last value per key, guestinfo decoding, ownership markers, sizes."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from core.resources import OwnerKey
from drivers.vsphere.inventory import VmRecord, last_per_key
from drivers.vsphere.specs import (
    gib,
    guestinfo_options,
    instance_uuid,
    owner_of,
    read_guestinfo,
)

OWNER = OwnerKey("acme", "prod", "payments", "vm-0")


def record(**fields: Any) -> VmRecord:
    base: dict[str, Any] = {
        "vm": None, "moref": "vm-1", "name": "acme-prod-payments-0", "folder": None,
        "folder_name": "acme-prod", "cluster": "DC0_C0", "networks": ("VM Network",),
        "power_state": "poweredOn", "template": False, "instance_uuid": "", "annotation": "",
        "cpu": 2, "memory_mib": 2048, "disks": (), "nics": (), "cpu_hot_add": True,
        "memory_hot_add": True, "units": frozenset(),
    }  # fmt: skip
    return replace(VmRecord(**base), **fields)


def test_the_last_value_of_a_repeated_key_wins() -> None:
    pairs = [("rxt.owner", "old"), ("rxt.spec-hash", "h1"), ("rxt.owner", "new")]
    assert last_per_key(pairs) == {"rxt.owner": "new", "rxt.spec-hash": "h1"}


@pytest.mark.parametrize(
    "texts",
    [
        {"metadata": '{"instance-id": "i-1"}', "userdata": "#cloud-config\nruncmd: [ls]\n"},
        {"metadata": "", "userdata": ""},
        {"metadata": "ünïcode ✓", "userdata": ""},
    ],
)
def test_guestinfo_reads_back_what_was_written(texts: dict[str, str]) -> None:
    assert read_guestinfo(guestinfo_options(texts)) == texts


def test_guestinfo_written_by_hand_without_encoding_reads_as_plain_text() -> None:
    encoded = base64.b64encode(b"#cloud-config\n").decode()
    extra = {"guestinfo.userdata": encoded}
    assert read_guestinfo(extra)["userdata"] == encoded


@pytest.mark.parametrize(
    ("attributes", "extra", "uuid", "expected"),
    [
        ({"rxt.owner": str(OWNER)}, {}, "", (OWNER, "attribute")),
        ({}, {"rxt.owner": str(OWNER)}, instance_uuid(OWNER), (OWNER, "clone")),
        ({}, {"rxt.owner": str(OWNER)}, "another-uuid", (None, "none")),
        ({"rxt.owner": "not an owner key"}, {}, "", (None, "none")),
        ({}, {}, instance_uuid(OWNER), (None, "none")),
    ],
    ids=["attribute", "clone-marker", "clone-marker-foreign-uuid", "garbage", "uuid-only"],
)
def test_ownership_comes_from_the_attribute_or_a_matching_clone_marker(
    attributes: dict[str, str], extra: dict[str, str], uuid: str, expected: Any
) -> None:
    found = record(attributes=attributes, extra=extra, instance_uuid=uuid)
    assert owner_of(found) == expected


@pytest.mark.parametrize(
    ("kib", "expected"), [(60 * 1024 * 1024, 60), (1024, 0.001), (1536 * 1024, 1.5)]
)
def test_disk_sizes_are_whole_gib_when_they_can_be(kib: int, expected: float) -> None:
    assert gib(kib) == expected
    assert type(gib(kib)) is type(expected)


def test_the_instance_uuid_is_deterministic_per_owner() -> None:
    assert instance_uuid(OWNER) == instance_uuid(OwnerKey("acme", "prod", "payments", "vm-0"))
    assert instance_uuid(OWNER) != instance_uuid(OwnerKey("acme", "prod", "payments", "vm-1"))
