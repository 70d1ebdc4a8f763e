"""Placement: where each application runs, decided by the ordered matrix of the manifest contract.

The renderer and the plan call ``place_environment``; ``rxt explain`` prints a decision's path.
Tenant constraints in Rego (``planner.policy.forbidden``) may forbid the decided target, never
change it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.errors import Location, ManifestError
from planner.manifests import Application, Environment


class EnvironmentView(Protocol):
    """One environment: its settings, its applications by name, and the tenant's Rego files.

    ``planner.loading.LoadedEnvironment`` satisfies it; tests and benchmarks build their own.
    """

    @property
    def name(self) -> str: ...

    @property
    def environment(self) -> Environment: ...

    @property
    def apps(self) -> Mapping[str, Application]: ...

    @property
    def policy_files(self) -> Mapping[str, str]: ...


# Compliance regimes that demand a dedicated VM segmented by NSX (rule 2 of the matrix).
VM_ONLY_COMPLIANCE = ("pci-dss", "hipaa")


class Target(enum.StrEnum):
    """The two places an application can run."""

    VM = "vm"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True, slots=True)
class Step:
    """One rule of the matrix as it was evaluated for one app: whether it decided, and why."""

    rule: str
    decided: bool
    note: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one app runs, the rule that decided it, a reason a person reads, and the path."""

    app: str
    target: Target
    rule: str
    reason: str
    path: tuple[Step, ...]


RULES = (
    "explicit-target",
    "compliance-requires-vm",
    "stateful-requires-vm",
    "default-kubernetes",
)
"""The rule names of the matrix, in the order they are evaluated."""


def manifest_location(app: str) -> Location:
    """Where an app's manifest lives, relative to the environment directory."""
    return Location(f"apps/{app}/deploy.yaml")


def _explicit(app: Application) -> tuple[Target | None, str]:
    wanted = app.spec.placement.target
    if wanted == "auto":
        return None, "placement.target is auto, so the next rules decide"
    target = Target(wanted)
    forbidding = [c for c in app.spec.placement.compliance if c in VM_ONLY_COMPLIANCE]
    if target is Target.KUBERNETES and forbidding:
        raise ManifestError(
            f"app '{app.metadata.name}': compliance '{forbidding[0]}' requires a VM, "
            "but placement.target is 'kubernetes'",
            location=manifest_location(app.metadata.name),
            hint="set placement.target to vm or auto, or remove the compliance entry",
        )
    return target, f"placement.target is '{wanted}' in deploy.yaml"


def _compliance(app: Application) -> tuple[Target | None, str]:
    regimes = [c for c in app.spec.placement.compliance if c in VM_ONLY_COMPLIANCE]
    if regimes:
        return Target.VM, (
            f"compliance {', '.join(regimes)} requires a dedicated VM, segmented by NSX"
        )
    listed = ", ".join(app.spec.placement.compliance) or "none"
    return None, f"no compliance regime that requires a VM (compliance: {listed})"


def _stateful(app: Application) -> tuple[Target | None, str]:
    volumes = [volume.name for volume in app.spec.volumes]
    if app.spec.placement.stateful:
        return Target.VM, "placement.stateful is true: state stays on the VM's own disks"
    if volumes:
        return Target.VM, f"it declares volumes ({', '.join(volumes)}), kept on VM disks"
    return None, "not stateful and no volumes"


def _default(app: Application) -> tuple[Target | None, str]:
    del app
    return Target.KUBERNETES, "stateless with no compliance demands: Kubernetes by default"


_MATRIX = (_explicit, _compliance, _stateful, _default)


def place_application(app: Application) -> Placement:
    """Run the matrix for one app, first deciding rule wins.

    Raises:
        ManifestError: the explicit target conflicts with a compliance regime.
    """
    steps: list[Step] = []
    for rule, decide in zip(RULES, _MATRIX, strict=True):
        target, note = decide(app)
        steps.append(Step(rule=rule, decided=target is not None, note=note))
        if target is not None:
            return Placement(app.metadata.name, target, rule, note, tuple(steps))
    raise AssertionError("the default rule always decides")  # pragma: no cover


def _check_site(placement: Placement, environment: Environment) -> None:
    sites = environment.spec.sites
    site = sites.vsphere if placement.target is Target.VM else sites.kubernetes
    if site is None:
        platform = "vsphere" if placement.target is Target.VM else "kubernetes"
        raise ManifestError(
            f"app '{placement.app}' is placed on {placement.target.value} by rule "
            f"'{placement.rule}', but the environment has no {platform} site",
            location=manifest_location(placement.app),
            hint=f"add spec.sites.{platform} to environment.yaml, or change placement.target",
        )


def place_environment(view: EnvironmentView) -> dict[str, Placement]:
    """Place every app of an environment, in name order.

    Raises:
        ManifestError: a conflict between target and compliance, or a target whose platform
            the environment does not configure.
    """
    placements: dict[str, Placement] = {}
    for name in sorted(view.apps):
        placement = place_application(view.apps[name])
        _check_site(placement, view.environment)
        placements[name] = placement
    return placements


def placement_summary(placements: Mapping[str, Placement]) -> dict[str, dict[str, str]]:
    """Placements as plain data, for policy input and the JSON plan."""
    return {
        name: {"target": item.target.value, "rule": item.rule, "reason": item.reason}
        for name, item in sorted(placements.items())
    }


def explain(placement: Placement) -> list[str]:
    """The decision path as lines a person reads: every rule tried, and the one that decided."""
    lines = [f"{placement.app}: {placement.target.value} (rule {placement.rule})"]
    for index, step in enumerate(placement.path, start=1):
        mark = "decided" if step.decided else "passed"
        lines.append(f"  {index}. {step.rule}: {mark}: {step.note}")
    skipped = RULES[len(placement.path) :]
    lines.extend(f"  -. {rule}: not reached" for rule in skipped)
    return lines
