"""The VM spec of docs/resource-specs.md: read back from a ``VmRecord``, and its guestinfo encoding.

``VsphereDriver.observe`` normalises records with ``observed_spec``; applying encodes guestinfo
with ``guestinfo_options`` and compares by the same decoded values, so a converged VM has the
desired digest.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any

from core.resources import OwnerKey
from drivers.vsphere.inventory import VmRecord

OWNER_ATTRIBUTE = "rxt.owner"
HASH_ATTRIBUTE = "rxt.spec-hash"
# Written in the clone call itself, so a VM cloned by a run that died before it could set the
# custom attributes is still recognised as ours (together with the deterministic instance UUID).
CLONE_OWNER_KEY = "rxt.owner"
CLONE_TEMPLATE_KEY = "rxt.template"
DISK_NAMES_KEY = "rxt.disks"
SECRET_TOKEN_KEY = "guestinfo.rxt.secret-token"  # noqa: S105 - a key name, not a secret
VAULT_ADDRESS_KEY = "guestinfo.rxt.vault-addr"
GUESTINFO_FIELDS = ("metadata", "userdata")
KIB_PER_GIB = 1024 * 1024
_NAMESPACE = uuid.UUID("5a0f6c8e-6f1b-4c53-9d0e-2f7a4c1b9e10")


def instance_uuid(owner: OwnerKey) -> str:
    """The deterministic ``config.instanceUuid`` of a VM: a lookup hint, not proof of ownership."""
    return str(uuid.uuid5(_NAMESPACE, str(owner)))


def owner_of(record: VmRecord) -> tuple[OwnerKey | None, str]:
    """The owner marked on a VM and how it was marked (``attribute``, ``clone`` or ``none``)."""
    marked = _parse_owner(record.attributes.get(OWNER_ATTRIBUTE, ""))
    if marked is not None:
        return marked, "attribute"
    cloned = _parse_owner(record.extra.get(CLONE_OWNER_KEY, ""))
    if cloned is not None and record.instance_uuid == instance_uuid(cloned):
        return cloned, "clone"
    return None, "none"


def _parse_owner(text: str) -> OwnerKey | None:
    try:
        return OwnerKey.parse(text) if text else None
    except ValueError:
        return None  # a marker we did not write is as good as none: never adopt on a guess


def gib(capacity_kib: int) -> int | float:
    """Disk size in GiB: whole numbers stay ints, so they compare equal to the manifests'."""
    size = capacity_kib / KIB_PER_GIB
    return int(size) if size.is_integer() else round(size, 3)


def observed_spec(record: VmRecord, *, datacenter: str, folder: str) -> dict[str, Any]:
    """The managed fields of a VM, in the shape of the desired spec."""
    disks = record.disks
    return {
        "name": record.name,
        "datacenter": datacenter,
        "cluster": record.cluster,
        "folder": folder,
        "network": ",".join(record.networks),
        "template": record.extra.get(CLONE_TEMPLATE_KEY, ""),
        "cpu": record.cpu,
        "memoryMiB": record.memory_mib,
        "bootDiskGiB": gib(disks[0].capacityInKB) if disks else 0,
        "disks": data_disks(record),
        "annotation": record.annotation,
        "guestinfo": read_guestinfo(record.extra),
        "powerState": record.power_state,
    }


def data_disks(record: VmRecord) -> list[dict[str, Any]]:
    """Every disk after the boot disk, named by the list recorded when the driver added them."""
    names = [n for n in record.extra.get(DISK_NAMES_KEY, "").split(",") if n]
    return [
        {"name": names[i] if i < len(names) else f"disk{i + 1}", "sizeGiB": gib(d.capacityInKB)}
        for i, d in enumerate(record.disks[1:])
    ]


def read_guestinfo(extra: Mapping[str, str]) -> dict[str, str]:
    """The decoded ``guestinfo.metadata`` and ``guestinfo.userdata`` (empty when absent)."""
    return {name: _decode(extra, f"guestinfo.{name}") for name in GUESTINFO_FIELDS}


def _decode(extra: Mapping[str, str], key: str) -> str:
    raw = extra.get(key, "")
    if extra.get(f"{key}.encoding", "") != "base64" or not raw:
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return raw  # not ours to interpret: shown as it is, so it reads as drift


def guestinfo_options(wanted: Mapping[str, str]) -> dict[str, str]:
    """The extraConfig entries that carry ``wanted`` cloud-init texts, base64-encoded."""
    options: dict[str, str] = {}
    for name in GUESTINFO_FIELDS:
        text = wanted.get(name, "")
        options[f"guestinfo.{name}"] = base64.b64encode(text.encode()).decode() if text else ""
        options[f"guestinfo.{name}.encoding"] = "base64" if text else ""
    return options
