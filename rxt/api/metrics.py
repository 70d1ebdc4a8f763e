"""The Prometheus metrics of one API instance, in its own registry so instances never collide.

Routes count webhook outcomes here; the reconcile loop records the reconcile, drift, policy and
apply figures through the same object (it satisfies ``reconciler.metering.LoopMetrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reconciler.webhooks import Outcome, Provider


class Metrics:
    """Every metric ``/metrics`` exposes; label names are part of the contract."""

    def __init__(self, *, queue_depth: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_total = Counter(
            "rxt_reconcile",
            "Reconciles finished, by outcome.",
            ["environment", "outcome"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "rxt_reconcile_duration_seconds",
            "Time from claiming a reconcile to its end.",
            ["environment"],
            registry=r,
        )
        self.drift_found = Counter(
            "rxt_drift_detected", "Drift checks that found drift.", ["environment"], registry=r
        )
        self.policy_denials = Counter(
            "rxt_policy_denials", "Plans denied by a policy.", ["environment", "policy"], registry=r
        )
        self.apply_errors = Counter(
            "rxt_apply_errors",
            "Changes that failed to apply.",
            ["environment", "driver"],
            registry=r,
        )
        self.workqueue_depth = Gauge(
            "rxt_workqueue_depth", "Items waiting in the work queue.", registry=r
        )
        if queue_depth is not None:
            self.workqueue_depth.set_function(queue_depth)
        self.webhook_deliveries = Counter(
            "rxt_webhook_deliveries",
            "Webhook deliveries received, by provider and outcome.",
            ["provider", "outcome"],
            registry=r,
        )
        self.webhook_ack = Histogram(
            "rxt_webhook_ack_duration_seconds",
            "Time from the route receiving a delivery (headers read) to its answer.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
        )
        # Every outcome starts at zero, so a dashboard sees a series before the first refusal.
        for provider in get_args(Provider):
            for outcome in get_args(Outcome):
                self.webhook_deliveries.labels(provider, outcome)

    def watch_queue(self, depth: Callable[[], float]) -> None:
        """Read the work queue's depth from ``depth`` at each scrape."""
        self.workqueue_depth.set_function(depth)

    def reconciled(self, environment: str, *, outcome: str, seconds: float) -> None:
        """One reconcile ended with ``outcome`` after ``seconds``."""
        self.reconcile_total.labels(environment, outcome).inc()
        self.reconcile_duration.labels(environment).observe(seconds)

    def policy_denied(self, environment: str, *, rule: str) -> None:
        self.policy_denials.labels(environment, rule).inc()

    def apply_failed(self, environment: str, *, driver: str) -> None:
        self.apply_errors.labels(environment, driver).inc()

    def drift_detected(self, environment: str) -> None:
        self.drift_found.labels(environment).inc()

    def webhook(self, provider: Provider, outcome: Outcome, *, seconds: float) -> None:
        """Count one delivery's outcome and how long its answer took."""
        self.webhook_deliveries.labels(provider, outcome).inc()
        self.webhook_ack.observe(seconds)

    def webhook_count(self, provider: Provider, outcome: Outcome) -> float:
        """The current count of one outcome; tests and the benchmark read it."""
        value = self.registry.get_sample_value(
            "rxt_webhook_deliveries_total", {"provider": provider, "outcome": outcome}
        )
        return value or 0.0
