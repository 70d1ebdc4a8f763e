"""vSphere bars on vcsim: P4 (SOAP calls per observed VM) and R2 (apply, observe, plan: empty).

Run with ``python -m benchmarks vsphere``; it builds and starts vcsim like the tests do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from benchmarks.harness import Row, stopwatch
from core.logs import configure
from core.resources import Action, Change, DesiredResource, OwnerKey, Platform, ResourceRef
from drivers.protocol import Scope
from drivers.vsphere import PowerCycleRequired, VsphereDriver
from planner.diffing import diff
from planner.manifests import Sync
from simulators.vcsim import launcher

TENANT, ENVIRONMENT = "bench", "prod"
P4_VMS = 150
R2_VMS = 24
R2_ROUNDS = 8
SYNC = Sync.model_validate({"prune": True, "confirmPrune": []})


def run() -> list[Row]:
    configure(level="WARNING")  # one line per applied change would bury the table
    with launcher.running() as sim:
        return [_calls_per_observed_vm(sim), _idempotency(sim)]


def _driver(sim: launcher.Vcsim) -> VsphereDriver:
    return VsphereDriver(
        sim.host, port=sim.port, user=sim.username, password=sim.password, protocol="http"
    )


def _scope(folder: str) -> Scope:
    return Scope(TENANT, ENVIRONMENT, {"datacenter": "DC0", "cluster": "DC0_C0", "folder": folder})


def _vm(folder: str, app: str, index: int, rng: random.Random) -> DesiredResource:
    name = f"{TENANT}-{ENVIRONMENT}-{app}-{index}"
    owner = OwnerKey(TENANT, ENVIRONMENT, app, f"vm-{index}")
    disks = [{"name": f"d{i}", "sizeGiB": rng.choice([5, 10])} for i in range(rng.randint(0, 2))]
    spec = {
        "name": name, "datacenter": "DC0", "cluster": "DC0_C0", "folder": folder,
        "network": "VM Network", "template": "ubuntu-2404-docker",
        "cpu": rng.choice([1, 2, 4]), "memoryMiB": rng.choice([1024, 2048, 4096]),
        "bootDiskGiB": rng.choice([20, 40]),
        "disks": disks,
        "annotation": f"Managed by RXT Deploy: {owner}",
        "guestinfo": {"metadata": f'{{"instance-id": "{name}-{rng.randint(1, 9)}"}}',
                      "userdata": f"#cloud-config\nhostname: {name}\n"},
        "powerState": "poweredOn",
    }  # fmt: skip
    ref = ResourceRef(Platform.VSPHERE, "VirtualMachine", name, scope=folder)
    return DesiredResource(ref, owner, spec, immutable=("template", "datacenter"))


def _apply(driver: VsphereDriver, changes: Sequence[Change]) -> tuple[int, int]:
    """Apply like the reconciler: a power cycle is retried once approved. Returns writes, cycles."""
    writes = cycles = 0
    for change in changes:
        try:
            applied = driver.apply(change)
        except PowerCycleRequired:
            cycles += 1
            applied = driver.apply(replace(change, needs_approval=True, approved=True))
        writes += applied.wrote
    return writes, cycles


def _plan(driver: VsphereDriver, folder: str, desired: Sequence[DesiredResource]) -> list[Change]:
    observed = driver.observe(_scope(folder))
    return list(diff(desired, observed, tenant=TENANT, environment=ENVIRONMENT, sync=SYNC).changes)


def _calls_per_observed_vm(sim: launcher.Vcsim) -> Row:
    folder, rng = "bench-p4", random.Random(4)
    desired = [_vm(folder, "fleet", index, rng) for index in range(P4_VMS)]
    with _driver(sim) as driver:
        _apply(driver, [Change(Action.CREATE, d.ref, d.owner, desired=d) for d in desired])
    with _driver(sim) as driver:
        driver.observe(_scope("not-there"))  # log in first: the login is not observation
        cold_calls, cold_ms, observed = _observe_once(driver, folder)
        warm_calls, warm_ms, _ = _observe_once(driver, folder)
    cold, warm = cold_calls / max(len(observed), 1), warm_calls / max(len(observed), 1)
    return Row(
        "P4",
        f"vSphere observe of {len(observed)} VMs (vcsim)",
        f"first: {cold_calls} SOAP calls, {cold:.3f}/VM, {cold_ms:.0f} ms; "
        f"unchanged VMs: {warm_calls} calls, {warm:.3f}/VM, {warm_ms:.0f} ms",
        "<= 0.1 calls per VM",
        passed=max(cold, warm) <= 0.1 and len(observed) == P4_VMS,
    )


def _observe_once(driver: VsphereDriver, folder: str) -> tuple[int, float, list[Any]]:
    before = driver.soap_calls
    with stopwatch() as took:
        observed = driver.observe(_scope(folder))
    return driver.soap_calls - before, took[0] * 1000, observed


def _mutate(desired: list[DesiredResource], rng: random.Random, folder: str) -> None:
    """Change a few VMs, add one, drop one: what a run of commits does to a repository."""
    for index in rng.sample(range(len(desired)), k=min(5, len(desired))):
        spec: dict[str, Any] = dict(desired[index].spec)
        field = rng.choice(["cpu", "memoryMiB", "annotation", "guestinfo", "disks", "powerState"])
        if field in ("cpu", "memoryMiB"):
            spec[field] = rng.choice([1, 2, 4, 8]) * (1 if field == "cpu" else 1024)
        elif field == "annotation":
            spec["annotation"] = f"{spec['annotation']} (rev {rng.randint(1, 999)})"
        elif field == "guestinfo":
            spec["guestinfo"] = {**spec["guestinfo"], "metadata": f'{{"rev": {rng.random()}}}'}
        elif field == "disks":
            spec["disks"] = [*spec["disks"], {"name": f"x{len(spec['disks'])}", "sizeGiB": 3}]
        else:
            spec["powerState"] = "poweredOff" if spec["powerState"] == "poweredOn" else "poweredOn"
        desired[index] = replace(desired[index], spec=spec)
    desired.pop(rng.randrange(len(desired)))
    desired.append(_vm(folder, "grown", rng.randint(100, 10_000), rng))


def _idempotency(sim: launcher.Vcsim) -> Row:
    folder, rng = "bench-r2", random.Random(2)
    desired = [_vm(folder, "app", index, rng) for index in range(R2_VMS)]
    first_sizes, empty, writes, cycles = [], 0, 0, 0
    with stopwatch() as took:
        for round_number in range(R2_ROUNDS):
            if round_number:
                _mutate(desired, rng, folder)
            with _driver(sim) as driver:
                changes = _plan(driver, folder, desired)
                done, cycled = _apply(driver, changes)
            with _driver(sim) as driver:  # a new session: what an engine restart sees
                empty += _plan(driver, folder, desired) == []
            first_sizes.append(len(changes))
            writes, cycles = writes + done, cycles + cycled
    return Row(
        "R2",
        f"vSphere apply, observe, plan x{R2_ROUNDS} ({R2_VMS} VMs, vcsim)",
        f"changes per round {first_sizes}, {writes} writes, {cycles} approved power cycles; "
        f"second plan empty {empty}/{R2_ROUNDS}; {took[0]:.1f} s",
        "every second plan empty",
        passed=empty == R2_ROUNDS,
    )
