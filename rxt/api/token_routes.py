"""Managing access: a tenant admin's tokens, and the operator's tenants, site grants and first
tokens. Mounted by ``create_app`` with the tenant API.

Token secrets are answered once and never stored, so token creation keeps no
``Idempotency-Key`` record: a repeated request makes a second token.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from rxt.api.access import (
    idempotent,
    not_found,
    operator,
    services,
    tenant_id_of,
    tenant_role,
)
from state.access import IssuedToken, Principal, Role
from state.audit import AuditRecord

router = APIRouter(prefix="/api/v1", tags=["access"])
Admin = Annotated[Principal, Depends(tenant_role(Role.ADMIN))]
Operator = Annotated[Principal, Depends(operator)]
TenantName = Annotated[str, Path(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length=63)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenBody(_Body):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@ -]+$")
    role: Literal["viewer", "deployer", "admin"]


class SitesBody(_Body):
    sites: list[Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]] = Field(
        max_length=100, description="Platform connections this tenant's environments may name."
    )


def _issued(issued: IssuedToken) -> dict[str, Any]:
    principal = issued.principal
    return {
        "id": principal.token_id,
        "name": principal.name,
        "tenant": principal.tenant,
        "role": principal.role.name.lower(),
        "token": issued.secret,
    }


def _issue(request: Request, actor: Principal, tenant: str, body: TokenBody) -> dict[str, Any]:
    api = services(request)
    issued = api.tokens.issue(tenant, role=Role.named(body.role), name=body.name)
    record = AuditRecord(actor.actor, "token.created", f"token/{issued.principal.token_id}",
                         details={"role": body.role, "name": body.name})  # fmt: skip
    api.tenancy.audit.append(tenant, record)
    return _issued(issued)


@router.get("/tokens", summary="The tenant's API tokens (never their secrets)")
def list_tokens(request: Request, principal: Admin) -> dict[str, Any]:
    return {"items": services(request).tokens.listed(tenant_id_of(principal))}


@router.post("/tokens", status_code=201, summary="Make a token; its secret is shown only here")
def create_token(request: Request, body: TokenBody, principal: Admin) -> dict[str, Any]:
    return _issue(request, principal, principal.tenant, body)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(request: Request, token_id: int, principal: Admin) -> Response:
    api = services(request)
    if not api.tokens.revoke(token_id, tenant_id=tenant_id_of(principal)):
        raise not_found("token", token_id)
    record = AuditRecord(principal.actor, "token.revoked", f"token/{token_id}")
    api.tenancy.audit.append(principal.tenant, record)
    return Response(status_code=204)


@router.put("/tenants/{tenant}/sites", summary="Operator: set the sites a tenant may use")
def grant_sites(request: Request, tenant: TenantName, body: SitesBody, principal: Operator) -> Any:
    def produce() -> tuple[int, dict[str, Any]]:
        api = services(request)
        sites = api.grants.grant(tenant, body.sites)
        record = AuditRecord(principal.actor, "tenant.sites_granted", f"tenant/{tenant}",
                             details={"sites": sites})  # fmt: skip
        api.tenancy.audit.append(tenant, record)
        return 200, {"tenant": tenant, "sites": sites}

    return idempotent(request, principal, {"tenant": tenant, **body.model_dump()}, produce)


@router.post("/tenants/{tenant}/tokens", status_code=201, summary="Operator: make a tenant's token")
def create_tenant_token(
    request: Request, tenant: TenantName, body: TokenBody, principal: Operator
) -> dict[str, Any]:
    return _issue(request, principal, tenant, body)
