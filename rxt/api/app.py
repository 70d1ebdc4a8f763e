"""The FastAPI app factory: ``create_app`` wires its collaborators into one API instance.

``rxt serve`` and the tests call it; every collaborator is passed in, nothing is global.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from fastapi import FastAPI

from reconciler.intake import (
    DeliveryLog,
    Enqueue,
    MemoryDeliveryLog,
    RateLimiter,
    SecretLookup,
    WebhookIntake,
)
from rxt.api import health_routes, problems, tenants, webhook_routes
from rxt.api.access import TenantServices
from rxt.api.metrics import Metrics
from rxt.api.state import ApiLimits, ApiState, ReadinessCheck


def create_app(
    *,
    secrets: SecretLookup,
    enqueue: Enqueue,
    deliveries: DeliveryLog | None = None,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    limits: ApiLimits | None = None,
    queue_depth: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    metrics: Metrics | None = None,
    tenant_api: TenantServices | None = None,
) -> FastAPI:
    """Build one API instance.

    Args:
        secrets: the webhook secrets registered for a repository.
        enqueue: puts a verified delivery on the work queue; never does the work.
        deliveries: which delivery ids were already received; in memory when not given.
        readiness: named checks ``/readyz`` runs; each fails by raising or returning False.
        limits: body size, read timeout, per-repository rate and check timeout.
        queue_depth: read by the ``rxt_workqueue_depth`` gauge at each scrape.
        clock: monotonic seconds for the rate limiter.
        metrics: the metrics the reconcile loop records into as well; a new set when not given.
        tenant_api: the state store behind ``/api/v1`` (``TenantServices.of(store)``); the
            tenant API is not mounted without it.
    """
    limits = limits or ApiLimits()
    intake = WebhookIntake(
        secrets=secrets,
        enqueue=enqueue,
        deliveries=deliveries if deliveries is not None else MemoryDeliveryLog(),
        limiter=RateLimiter(burst=limits.burst, per_second=limits.per_second, clock=clock),
        clock=time.time,
    )
    app = FastAPI(
        title="RXT Deploy",
        summary="Webhook intake, health and metrics of the RXT Deploy engine.",
        version="0.1.0",
    )
    app.state.rxt = ApiState(
        intake=intake,
        metrics=metrics or Metrics(queue_depth=queue_depth),
        limits=limits,
        readiness=dict(readiness or {}),
    )
    problems.install(app)
    app.include_router(webhook_routes.router)
    app.include_router(health_routes.router)
    if tenant_api is not None:
        tenants.install(app, tenant_api)
    return app
