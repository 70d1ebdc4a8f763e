"""``/healthz`` (alias ``/livez``), ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from core.logs import get_logger
from rxt.api.problems import problem
from rxt.api.state import ApiState, ReadinessCheck

router = APIRouter(tags=["health"])
log = get_logger()


@router.get("/healthz")
@router.get("/livez", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "A readiness check failed; see Retry-After."}},
)
async def readyz(request: Request) -> Response:
    """Every readiness check passed (each within its timeout)."""
    state: ApiState = request.app.state.rxt
    results = await asyncio.gather(
        *(_run(check, timeout=state.limits.check_timeout) for check in state.readiness.values())
    )
    checks = dict(zip(state.readiness, results, strict=True))
    if all(result == "ok" for result in results):
        return JSONResponse({"status": "ready", "checks": checks})
    failed = ", ".join(name for name, result in checks.items() if result != "ok")
    return problem(
        503,
        detail=f"not ready: {failed}",
        instance=request.url.path,
        headers={"Retry-After": "5"},
        checks=checks,
    )


async def _run(check: ReadinessCheck, *, timeout: float) -> str:
    """'ok', or why the check failed; a check fails by raising or returning False."""
    try:
        result = await asyncio.wait_for(run_in_threadpool(check), timeout)
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except Exception as error:
        return f"failed: {type(error).__name__}"
    return "failed" if result is False else "ok"


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this instance's metrics."""
    state: ApiState = request.app.state.rxt
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
