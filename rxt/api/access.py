"""Who is calling the tenant API and whether they may: bearer tokens, roles, typed problems and
``Idempotency-Key`` replays. The routes in ``rxt.api.tenants`` and ``rxt.api.token_routes`` use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from core.hashing import canonical_json
from core.logs import get_logger
from rxt.api.problems import problem
from rxt.api.urls import UrlPolicy
from rxt.settings import Settings
from state.access import (
    OPERATOR,
    Grants,
    Idempotency,
    Principal,
    Replay,
    Role,
    Tokens,
)
from state.queue import WorkQueue
from state.store import Store
from state.tenancy import Tenancy

log = get_logger()
PROBLEMS = "https://rxt.io/problems/"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class TenantServices:
    """What the tenant API needs from the state store, and the operator's URL policy."""

    tokens: Tokens
    grants: Grants
    idempotency: Idempotency
    tenancy: Tenancy
    queue: WorkQueue
    urls: UrlPolicy
    # Called after a registration is stored, changed or deleted; ``rxt serve`` wakes the
    # registration refresher with it, so the engine follows the change at once.
    registered: Callable[[], None] | None = None

    @classmethod
    def of(cls, store: Store, *, urls: UrlPolicy | None = None) -> TenantServices:
        clock = store.catalog.clock
        return cls(
            tokens=Tokens(store.database, clock=clock),
            grants=Grants(store.database, clock=clock),
            idempotency=Idempotency(store.database, clock=clock),
            tenancy=Tenancy(store.database, audit=store.audit, clock=clock),
            queue=store.queue,
            urls=urls or UrlPolicy.of(),
        )

    @classmethod
    def configured(cls, store: Store, settings: Settings) -> TenantServices:
        """The services ``rxt serve`` mounts, with the operator's URL allowances."""
        urls = UrlPolicy.of(
            allowed_hosts=settings.allowed_hosts,
            allow_private_networks=settings.allow_private_networks,
            schemes=settings.allowed_url_schemes,
        )
        return cls.of(store, urls=urls)


class ApiProblem(Exception):
    """An error the API answers as problem details with a type URI and extension members."""

    def __init__(self, status: int, kind: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.extensions = status, kind, detail, extensions

    def response(self, instance: str) -> JSONResponse:
        return problem(
            self.status,
            detail=self.detail,
            instance=instance,
            type_=PROBLEMS + self.kind,
            **self.extensions,
        )


def not_found(what: str, ident: object) -> ApiProblem:
    """The one answer for a missing object and for another tenant's object alike."""
    return ApiProblem(404, "not-found", f"{what} {ident} was not found")


def services(request: Request) -> TenantServices:
    found = getattr(request.app.state, "tenant_api", None)
    if not isinstance(found, TenantServices):
        raise ApiProblem(503, "not-configured", "the tenant API has no state store")
    return found


def caller(request: Request) -> Principal:
    """The principal behind the request's bearer token; 401 when there is none or it is bad."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    principal = None
    if scheme.lower() == "bearer" and secret.strip():
        principal = services(request).tokens.authenticate(secret.strip())
    if principal is None:
        raise ApiProblem(
            401,
            "unauthenticated",
            "a valid API token is required: send 'Authorization: Bearer <token>'",
        )
    return principal


def tenant_role(minimum: Role) -> Callable[[Request], Principal]:
    """A dependency admitting tenant-bound tokens of ``minimum`` role or above."""

    def check(request: Request) -> Principal:
        principal = caller(request)
        if principal.tenant_id is None:
            raise ApiProblem(
                403,
                "forbidden",
                "the operator token is bound to no tenant; use a token of the tenant",
            )
        if principal.role < minimum:
            raise ApiProblem(
                403,
                "forbidden",
                f"this needs the {minimum.name.lower()} role; "
                f"the token has {principal.role.name.lower()}",
            )
        return principal

    return check


def operator(request: Request) -> Principal:
    """A dependency admitting the operator token only."""
    principal = caller(request)
    if principal.role is not Role.OPERATOR:
        raise ApiProblem(403, "forbidden", "this needs the operator token")
    return principal


def tenant_id_of(principal: Principal) -> int:
    if principal.tenant_id is None:  # excluded by tenant_role; here for the type checker
        raise ApiProblem(403, "forbidden", "the token is bound to no tenant")
    return principal.tenant_id


def idempotent(
    request: Request,
    principal: Principal,
    body: Mapping[str, Any],
    produce: Callable[[], tuple[int, Mapping[str, Any]]],
) -> JSONResponse:
    """Run a write once per ``Idempotency-Key``: a repeat with the same body gets the stored
    answer, with another body 422, while the first is still running 409.

    Only successful answers are stored; a request that failed may be retried with its key.
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        status, doc = produce()
        return JSONResponse(dict(doc), status_code=status)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiProblem(400, "bad-idempotency-key", "Idempotency-Key must be 1-255 characters")
    store = services(request).idempotency
    scope = f"tenant:{principal.tenant_id}" if principal.tenant_id else OPERATOR
    begun = store.begin(scope, key, fingerprint=_fingerprint(request, body))
    if begun.outcome is Replay.MISMATCH:
        raise ApiProblem(422, "idempotency-key-reused", "this key was used with another request")
    if begun.outcome is Replay.IN_FLIGHT:
        raise ApiProblem(409, "idempotency-key-in-flight", "a request with this key is running")
    if begun.outcome is Replay.STORED:
        headers = {"Idempotent-Replayed": "true"}
        return JSONResponse(dict(begun.response or {}), begun.status_code, headers=headers)
    try:
        status, doc = produce()
    except BaseException:
        store.abandon(scope, key)
        raise
    store.finish(scope, key, status_code=status, response=doc)
    return JSONResponse(dict(doc), status_code=status)


def _fingerprint(request: Request, body: Mapping[str, Any]) -> str:
    seen = {"method": request.method, "path": request.url.path, "body": dict(body)}
    return hashlib.sha256(canonical_json(seen)).hexdigest()


def install_problems(app: Any) -> None:
    """Answer ``ApiProblem`` as problem details."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiProblem)
        return error.response(request.url.path)

    app.add_exception_handler(ApiProblem, handle)


def print_operator_token(store: Store, echo: Callable[[str], None]) -> bool:
    """On first start, make the operator token and show it once through ``echo``.

    ``rxt serve`` calls this after opening the store; returns whether a token was made.
    """
    issued = Tokens(store.database, clock=store.catalog.clock).ensure_operator()
    if issued is None:
        return False
    echo(
        "The operator API token (shown once; store it now, only its SHA-256 is kept):\n"
        f"  {issued.secret}\n"
        "Use it to grant sites to a tenant and make the tenant's first admin token: "
        "PUT /api/v1/tenants/<tenant>/sites, POST /api/v1/tenants/<tenant>/tokens."
    )
    log.info("token.created", role="operator", token_id=issued.principal.token_id)
    return True


Viewer = Annotated[Principal, Depends(tenant_role(Role.VIEWER))]
Deployer = Annotated[Principal, Depends(tenant_role(Role.DEPLOYER))]
Admin = Annotated[Principal, Depends(tenant_role(Role.ADMIN))]
