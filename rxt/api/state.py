"""What the routes of one API instance share, kept on ``app.state.rxt`` by ``create_app``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.intake import WebhookIntake
from rxt.api.metrics import Metrics


@dataclass(frozen=True)
class ApiLimits:
    """Limits of the webhook intake and readiness checks; the defaults are the documented ones.

    Args:
        max_body_bytes: bodies past this are refused with 413 (GitHub caps payloads at 25 MB,
            but push and pull request payloads of manifest repositories stay far below 1 MiB).
        read_timeout: seconds to receive a whole body; a client trickling it gets 408.
        burst: deliveries one repository may send at once.
        per_second: deliveries per second one repository may sustain after the burst.
        check_timeout: seconds each readiness check may take before it counts as failed.
    """

    max_body_bytes: int = 1024 * 1024
    read_timeout: float = 10.0
    burst: float = 60.0
    per_second: float = 1.0
    check_timeout: float = 2.0


ReadinessCheck = Callable[[], object]


@dataclass(frozen=True)
class ApiState:
    intake: WebhookIntake
    metrics: Metrics
    limits: ApiLimits
    readiness: Mapping[str, ReadinessCheck]
