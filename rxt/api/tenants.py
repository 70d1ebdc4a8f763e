"""The tenant API under ``/api/v1``: read environments, plans, runs, drift reports and the audit
log, trigger syncs and drift checks, approve plans; registrations are in
``rxt.api.registration_routes``, tokens and grants in ``rxt.api.token_routes``.

``create_app`` mounts them all (``install``) when it is given ``TenantServices``; every query is
scoped to the caller's tenant, so another tenant's ids answer 404 exactly as missing ones do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import StateError
from reconciler.workers import DRIFT, RECONCILE, item_key
from rxt.api import registration_routes, token_routes
from rxt.api.access import (
    Admin,
    ApiProblem,
    Deployer,
    TenantServices,
    Viewer,
    idempotent,
    install_problems,
    not_found,
    services,
    tenant_id_of,
)
from state.access import Principal
from state.audit import AuditRecord
from state.tenancy import Conflict, FollowUp
from state.tenant_views import Page

router = APIRouter(prefix="/api/v1", tags=["tenant"])
Cursor = Annotated[str, Query(max_length=512, description="nextCursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ApprovalBody(_Body):
    reason: str = Field(min_length=1, max_length=2000, description="Why the plan may proceed.")


class TriggerBody(_Body):
    reason: str = Field(default="", max_length=2000)


def _listed(read: Callable[[], Page | None], what: str, ident: object) -> dict[str, Any]:
    """One page of a listing; a cursor this API did not make is a 400, a foreign id a 404."""
    try:
        page = read()
    except (StateError, ValueError, TypeError, IndexError):
        raise ApiProblem(400, "bad-cursor", "the cursor is not one this API returned") from None
    if page is None:
        raise not_found(what, ident)
    return {"items": page.items, "nextCursor": page.next_cursor or None}


# -- environments and what happened to them -------------------------------------------------------


@router.get("/environments", summary="Environments with their sync and drift status")
def list_environments(request: Request, principal: Viewer) -> dict[str, Any]:
    return {"items": services(request).tenancy.environments(tenant_id_of(principal))}


@router.get("/environments/{environment_id}", summary="One environment")
def get_environment(request: Request, environment_id: int, principal: Viewer) -> dict[str, Any]:
    doc = services(request).tenancy.environment(tenant_id_of(principal), environment_id)
    if doc is None:
        raise not_found("environment", environment_id)
    return doc


@router.get("/environments/{environment_id}/plans", summary="Plans, newest first")
def list_plans(
    request: Request, environment_id: int, principal: Viewer, cursor: Cursor = "", limit: Limit = 50
) -> dict[str, Any]:
    api, tenant_id = services(request).tenancy, tenant_id_of(principal)
    return _listed(
        lambda: api.plans(tenant_id, environment_id, cursor=cursor, limit=limit),
        "environment",
        environment_id,
    )


@router.get("/environments/{environment_id}/runs", summary="Runs, newest first")
def list_runs(
    request: Request, environment_id: int, principal: Viewer, cursor: Cursor = "", limit: Limit = 50
) -> dict[str, Any]:
    api, tenant_id = services(request).tenancy, tenant_id_of(principal)
    return _listed(
        lambda: api.runs(tenant_id, environment_id, cursor=cursor, limit=limit),
        "environment",
        environment_id,
    )


@router.get("/environments/{environment_id}/drift-reports", summary="Drift reports, newest first")
def list_drift_reports(
    request: Request, environment_id: int, principal: Viewer, cursor: Cursor = "", limit: Limit = 50
) -> dict[str, Any]:
    api, tenant_id = services(request).tenancy, tenant_id_of(principal)
    return _listed(
        lambda: api.drift_reports(tenant_id, environment_id, cursor=cursor, limit=limit),
        "environment",
        environment_id,
    )


@router.get("/plans/{plan_id}", summary="One plan with its body")
def get_plan(request: Request, plan_id: str, principal: Viewer) -> dict[str, Any]:
    doc = services(request).tenancy.plan(tenant_id_of(principal), plan_id)
    if doc is None:
        raise not_found("plan", plan_id)
    return doc


@router.get("/runs/{run_id}", summary="One run")
def get_run(request: Request, run_id: int, principal: Viewer) -> dict[str, Any]:
    doc = services(request).tenancy.run(tenant_id_of(principal), run_id)
    if doc is None:
        raise not_found("run", run_id)
    return doc


@router.get("/drift-reports/{report_id}", summary="One drift report")
def get_drift_report(request: Request, report_id: int, principal: Viewer) -> dict[str, Any]:
    doc = services(request).tenancy.drift_report(tenant_id_of(principal), report_id)
    if doc is None:
        raise not_found("drift report", report_id)
    return doc


@router.get("/audit", summary="The tenant's audit chain, newest first")
def list_audit(
    request: Request, principal: Viewer, cursor: Cursor = "", limit: Limit = 50
) -> dict[str, Any]:
    api = services(request).tenancy
    return _listed(
        lambda: api.audit_page(principal.tenant, cursor=cursor, limit=limit),
        "audit log",
        principal.tenant,
    )


# -- actions ------------------------------------------------------------------------------------


@router.post("/environments/{environment_id}/syncs", status_code=202, summary="Queue a sync")
def trigger_sync(
    request: Request, environment_id: int, principal: Deployer, body: TriggerBody | None = None
) -> JSONResponse:
    return _trigger(request, environment_id, principal, body or TriggerBody(), kind=RECONCILE)


@router.post(
    "/environments/{environment_id}/drift-checks", status_code=202, summary="Queue a drift check"
)
def trigger_drift_check(
    request: Request, environment_id: int, principal: Deployer, body: TriggerBody | None = None
) -> JSONResponse:
    return _trigger(request, environment_id, principal, body or TriggerBody(), kind=DRIFT)


def _trigger(
    request: Request, environment_id: int, principal: Principal, body: TriggerBody, *, kind: str
) -> JSONResponse:
    api = services(request)

    def produce() -> tuple[int, dict[str, Any]]:
        try:
            name = api.tenancy.environment_name(tenant_id_of(principal), environment_id)
        except Conflict as error:
            raise ApiProblem(409, "conflict", error.render()) from error
        if name is None:
            raise not_found("environment", environment_id)
        payload = {"trigger": "api", "requested_by": principal.actor}
        item = api.queue.enqueue(kind, key=item_key(principal.tenant, name), payload=payload)
        action = "sync.requested" if kind == RECONCILE else "drift_check.requested"
        record = AuditRecord(principal.actor, action, f"environment/{name}",
                             details={"reason": body.reason, "work_item": item})  # fmt: skip
        api.tenancy.audit.append(principal.tenant, record)
        return 202, {"workItemId": item, "kind": kind, "environmentId": environment_id}

    return idempotent(request, principal, {"id": environment_id, **body.model_dump()}, produce)


@router.post(
    "/plans/{plan_id}/approvals", status_code=201, summary="Approve a plan and queue its reconcile"
)
def approve_plan(
    request: Request, plan_id: str, body: ApprovalBody, principal: Admin
) -> JSONResponse:
    # The approval queues a reconcile of the plan's environment in its own transaction, so the
    # held changes it releases are applied now, not at the next push; the engine applies an
    # approval's reconcile even where sync.auto is off (only pushes wait for auto).
    payload = {"trigger": "approval", "requested_by": principal.actor}
    follow_up = FollowUp(RECONCILE, key=partial(item_key, principal.tenant), payload=payload)

    def produce() -> tuple[int, dict[str, Any]]:
        api = services(request).tenancy
        try:
            doc = api.approve(
                tenant_id_of(principal), plan_id, tenant=principal.tenant,
                actor=principal.actor, reason=body.reason, follow_up=follow_up,
            )  # fmt: skip
        except Conflict as error:
            raise ApiProblem(409, "conflict", error.render()) from error
        if doc is None:
            raise not_found("plan", plan_id)
        return 201, doc

    return idempotent(request, principal, {"plan": plan_id, **body.model_dump()}, produce)


@router.delete(
    "/plans/{plan_id}/approvals",
    summary="Withdraw a plan's approval: the changes it released are held again",
)
def withdraw_approval(
    request: Request,
    plan_id: str,
    principal: Admin,
    reason: str = Query(default="", max_length=2000, description="Why it is withdrawn."),
) -> JSONResponse:
    def produce() -> tuple[int, dict[str, Any]]:
        api = services(request).tenancy
        try:
            doc = api.withdraw_approval(
                tenant_id_of(principal), plan_id, tenant=principal.tenant,
                actor=principal.actor, reason=reason,
            )  # fmt: skip
        except Conflict as error:
            raise ApiProblem(409, "conflict", error.render()) from error
        if doc is None:
            raise not_found("plan", plan_id)
        return 200, doc

    return idempotent(request, principal, {"plan": plan_id, "reason": reason}, produce)


def install(app: FastAPI, api: TenantServices) -> None:
    """Mount the tenant API and its access routes on ``app``, backed by ``api``."""
    app.state.tenant_api = api
    install_problems(app)
    app.include_router(registration_routes.router)
    app.include_router(router)
    app.include_router(token_routes.router)
