"""Tiny stand-ins for the cluster's controllers: Deployment rollouts, HPA scaling, Ingress status.

Run in a thread by the server; each tick moves every rollout one step. Faults (a stuck
rollout, images that never pull) come from the server's ``Faults``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.kubernetes.kinds import served
from simulators.kubernetes.status import ApiError
from simulators.kubernetes.store import Store, Write

DEPLOYMENTS = served("Deployment")
HPAS = served("HorizontalPodAutoscaler")
INGRESSES = served("Ingress")
HPA_MANAGER = "kube-controller-manager"


@dataclass
class Rollout:
    """The controller's memory of one Deployment's current rollout."""

    template: Any
    started: float
    updated: int = 0
    old: int = 0  # pods of the previous template, ready, still running


@dataclass
class Controllers:
    """Moves status forward every ``tick`` seconds; ``deadline_scale`` shrinks deadlines."""

    store: Store
    stuck: Callable[[], bool]
    failing_images: Callable[[], set[str]]
    tick: float = 0.02
    deadline_scale: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _rollouts: dict[str, Rollout] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(self.tick):
            self.step()

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> None:
        """One pass over every HPA, Deployment and Ingress."""
        for hpa in self.store.list(HPAS, "", lambda _: True)[0]:
            self._scale(hpa)
        for deployment in self.store.list(DEPLOYMENTS, "", lambda _: True)[0]:
            self._roll(deployment)
        for ingress in self.store.list(INGRESSES, "", lambda _: True)[0]:
            status = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
            meta = ingress["metadata"]
            self.store.write_status(INGRESSES, meta["namespace"], meta["name"], status)

    def _scale(self, hpa: dict[str, Any]) -> None:
        spec, meta = hpa.get("spec") or {}, hpa["metadata"]
        target = spec.get("scaleTargetRef") or {}
        if target.get("kind") != "Deployment":
            return
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        try:
            deployment = self.store.get(DEPLOYMENTS, meta["namespace"], target.get("name", ""))
        except ApiError:
            return
        current = (deployment.get("spec") or {}).get("replicas", low)
        wanted = max(low, min(high, current))
        if wanted != current:
            patch = {"spec": {"replicas": wanted}}
            self.store.merge_patch(
                DEPLOYMENTS, meta["namespace"], target["name"], patch, Write(HPA_MANAGER)
            )
        status = {"currentReplicas": current, "desiredReplicas": wanted}
        self.store.write_status(HPAS, meta["namespace"], meta["name"], status)

    def _roll(self, deployment: dict[str, Any]) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        rollout = self._rollout(meta["uid"], spec.get("template"))
        containers = (rollout.template or {}).get("spec", {}).get("containers", [])
        pulling = bool({c.get("image") for c in containers} & self.failing_images())
        if not self.stuck():
            # One move a pass, like RollingUpdate with one surge pod and none unavailable:
            # retire an old pod once a surged new one is available, else surge a new one.
            if rollout.old and rollout.updated + rollout.old > replicas and not pulling:
                rollout.old -= 1
            elif rollout.updated < replicas:
                rollout.updated += 1
            elif rollout.old and not pulling:
                rollout.old -= 1
        rollout.updated = min(rollout.updated, replicas)
        available = rollout.old + (0 if pulling else rollout.updated)
        done = rollout.updated == replicas and not rollout.old and available == replicas
        deadline = float(spec.get("progressDeadlineSeconds", 600)) * self.deadline_scale
        overdue = not done and self.clock() - rollout.started > deadline
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": rollout.updated + rollout.old,
            "updatedReplicas": rollout.updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": _conditions(
                done=done, overdue=overdue, available=available, want=replicas
            ),
        }
        if available < replicas:
            status["unavailableReplicas"] = replicas - available
        if not available:
            del status["readyReplicas"], status["availableReplicas"]
        self.store.write_status(DEPLOYMENTS, meta["namespace"], meta["name"], status)

    def _rollout(self, uid: str, template: Any) -> Rollout:
        """The current rollout; a changed template starts a new one over the old pods."""
        rollout = self._rollouts.get(uid)
        if rollout is None or rollout.template != template:
            previous = (rollout.updated + rollout.old) if rollout else 0
            rollout = Rollout(template=template, started=self.clock(), old=previous)
            self._rollouts[uid] = rollout
        return rollout


def _conditions(*, done: bool, overdue: bool, available: int, want: int) -> list[dict[str, str]]:
    if done:
        progressing = ("True", "NewReplicaSetAvailable", "ReplicaSet has successfully progressed.")
    elif overdue:
        progressing = ("False", "ProgressDeadlineExceeded", "ReplicaSet has timed out progressing.")
    else:
        progressing = ("True", "ReplicaSetUpdated", "ReplicaSet is progressing.")
    enough = available >= want - want // 4
    availability = (
        ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        if enough
        else (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    )
    return [
        {"type": "Available", "status": s, "reason": r, "message": m} for s, r, m in [availability]
    ] + [
        {"type": "Progressing", "status": s, "reason": r, "message": m} for s, r, m in [progressing]
    ]
