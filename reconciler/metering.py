"""What the reconcile loop reports to metrics, as a protocol the HTTP layer implements.

``rxt.api.metrics.Metrics`` satisfies ``LoopMetrics``; the loop calls it and never imports
Prometheus. ``NoMetrics`` is the default for tests and commands that expose nothing.
"""

from __future__ import annotations

from typing import Protocol


class LoopMetrics(Protocol):
    """The figures the loop produces."""

    def reconciled(self, environment: str, *, outcome: str, seconds: float) -> None: ...

    def policy_denied(self, environment: str, *, rule: str) -> None: ...

    def apply_failed(self, environment: str, *, driver: str) -> None: ...

    def drift_detected(self, environment: str) -> None: ...


class NoMetrics:
    """Counts nothing."""

    def reconciled(self, environment: str, *, outcome: str, seconds: float) -> None:
        return None

    def policy_denied(self, environment: str, *, rule: str) -> None:
        return None

    def apply_failed(self, environment: str, *, driver: str) -> None:
        return None

    def drift_detected(self, environment: str) -> None:
        return None
