"""Monthly cost of an environment before and after a plan, from a price sheet.

Called by ``planner.plans``. Prices are list prices per month for a vCPU, a GiB of memory and a
GiB of storage on each platform; NSX objects and Kubernetes control objects are not priced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.resources import Platform
from planner.fields import get_path
from planner.quantities import parse_bytes, parse_cpu_millicores

GIB = 2**30
_PRICED = frozenset({"Deployment", "PersistentVolumeClaim", "VirtualMachine"})


class PlatformPrices(BaseModel):
    """Monthly prices on one platform."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    vcpu: float = Field(ge=0, description="One vCPU (or one Kubernetes CPU request) per month.")
    memory_gib: float = Field(ge=0, alias="memoryGiB", description="One GiB of memory per month.")
    storage_gib: float = Field(ge=0, alias="storageGiB", description="One GiB of disk per month.")


class PriceSheet(BaseModel):
    """The operator's price sheet; the defaults are illustrative list prices in USD."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = "USD"
    kubernetes: PlatformPrices = PlatformPrices(vcpu=22.0, memory_gib=3.0, storage_gib=0.10)
    vsphere: PlatformPrices = PlatformPrices(vcpu=28.0, memory_gib=3.5, storage_gib=0.08)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one resource holds: millicores, bytes of memory, bytes of storage."""

    millicores: int = 0
    memory: int = 0
    storage: int = 0


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Monthly cost before and after the plan, in total and per platform."""

    currency: str
    before: float
    after: float
    by_platform: Mapping[str, tuple[float, float]]

    @property
    def delta(self) -> float:
        """After minus before; positive means the plan costs more."""
        return round(self.after - self.before, 2)


def _container_usage(spec: Mapping[str, Any]) -> tuple[int, int]:
    containers = get_path(spec, "spec.template.spec.containers") or []
    cpu = memory = 0
    for container in containers:
        requests = get_path(container, "resources.requests") or {}
        cpu += parse_cpu_millicores(requests["cpu"]) if "cpu" in requests else 0
        memory += parse_bytes(requests["memory"]) if "memory" in requests else 0
    return cpu, memory


def usage(kind: str, spec: Mapping[str, Any], *, replicas: int | None = None) -> Usage:
    """The usage of one resource spec; kinds that hold no capacity use nothing."""
    if kind == "Deployment":
        count = replicas if replicas is not None else get_path(spec, "spec.replicas")
        cpu, memory = _container_usage(spec)
        count = count if isinstance(count, int) else 1
        return Usage(cpu * count, memory * count)
    if kind == "PersistentVolumeClaim":
        size = get_path(spec, "spec.resources.requests.storage")
        return Usage(storage=parse_bytes(size) if isinstance(size, str) else 0)
    if kind == "VirtualMachine":
        disks = sum(int(d.get("sizeGiB", 0)) for d in spec.get("disks", []))
        return Usage(
            millicores=int(spec.get("cpu", 0)) * 1000,
            memory=int(spec.get("memoryMiB", 0)) * 2**20,
            storage=(int(spec.get("bootDiskGiB", 0)) + disks) * GIB,
        )
    return Usage()


def _price(prices: PlatformPrices, used: Usage) -> float:
    return (
        used.millicores / 1000 * prices.vcpu
        + used.memory / GIB * prices.memory_gib
        + used.storage / GIB * prices.storage_gib
    )


Item = tuple[Platform, str, str, Mapping[str, Any]]
"""One resource for costing: platform, kind, name, spec."""


def monthly(items: Iterable[Item], sheet: PriceSheet) -> dict[str, float]:
    """The monthly cost per platform of a set of resources.

    A Deployment an autoscaler owns is priced at the autoscaler's minimum.
    """
    listed = list(items)
    floors = {
        name: spec.get("spec", {}).get("minReplicas")
        for _, kind, name, spec in listed
        if kind == "HorizontalPodAutoscaler"
    }
    sheets = {Platform.KUBERNETES: sheet.kubernetes, Platform.VSPHERE: sheet.vsphere}
    totals: dict[str, float] = {}
    for platform, kind, name, spec in listed:
        prices = sheets.get(platform)
        if prices is None or kind not in _PRICED:
            continue
        floor = floors.get(name) if kind == "Deployment" else None
        used = usage(kind, spec, replicas=floor if isinstance(floor, int) else None)
        totals[platform.value] = totals.get(platform.value, 0.0) + _price(prices, used)
    return totals


def estimate(before: Iterable[Item], after: Iterable[Item], sheet: PriceSheet) -> CostEstimate:
    """Monthly cost of what is observed now and of what the plan leaves."""
    old, new = monthly(before, sheet), monthly(after, sheet)
    platforms = sorted(set(old) | set(new))
    by_platform = {p: (round(old.get(p, 0.0), 2), round(new.get(p, 0.0), 2)) for p in platforms}
    return CostEstimate(
        currency=sheet.currency,
        before=round(sum(old.values()), 2),
        after=round(sum(new.values()), 2),
        by_platform=by_platform,
    )
