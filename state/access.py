"""Access to the tenant API: hashed API tokens with a role, idempotency keys, the sites the
operator granted each tenant, and the check that an environment stays inside its tenant.

``rxt.api`` calls these; the reconciler may call ``scope_violations`` on every commit it loads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import StateError
from state.database import Clock, Database, utc_now
from state.models import ApiToken, IdempotencyRecord, SiteGrant, Tenant

TOKEN_PREFIX = "rxt_"  # noqa: S105 - the visible prefix of every token, not a secret
OPERATOR = "operator"


class Role(IntEnum):
    """What a token may do; each role may do everything the ones below it may."""

    VIEWER = 1
    DEPLOYER = 2
    ADMIN = 3
    # The operator is bound to no tenant: it manages tenants and their first tokens only.
    OPERATOR = 4

    @classmethod
    def named(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise StateError(
                f"role {name!r} does not exist", hint="use viewer, deployer or admin"
            ) from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id and name, its tenant (empty for the operator) and role."""

    token_id: int
    name: str
    tenant: str
    tenant_id: int | None
    role: Role

    @property
    def actor(self) -> str:
        """How the audit chain names this caller."""
        return f"token:{self.token_id}:{self.name}"


@dataclass(frozen=True)
class IssuedToken:
    """A token just made; ``secret`` is shown once and never stored."""

    secret: str
    principal: Principal


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Tokens:
    """API tokens: issued at random, stored as SHA-256, looked up by that digest."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def issue(self, tenant: str, *, role: Role, name: str) -> IssuedToken:
        """A new token of ``tenant`` (registered if new) with ``role``; "" for the operator."""
        if (role is Role.OPERATOR) != (tenant == ""):
            raise StateError(
                f"token {name!r}: only the operator token is bound to no tenant",
                hint="give a tenant for viewer, deployer and admin tokens",
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.database.write() as session:
            tenant_id = tenant_row(session, tenant, clock=self.clock).id if tenant else None
            row = ApiToken(
                tenant_id=tenant_id,
                role=role.name.lower(),
                name=name,
                token_hash=token_digest(secret),
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return IssuedToken(secret, Principal(row.id, name, tenant, tenant_id, role))

    def ensure_operator(self) -> IssuedToken | None:
        """The operator token on first start; ``None`` when one exists (it is never shown again)."""
        with self.database.read() as session:
            exists = session.scalars(
                select(ApiToken.id).where(ApiToken.role == OPERATOR, ApiToken.revoked_at.is_(None))
            ).first()
        if exists is not None:
            return None
        return self.issue("", role=Role.OPERATOR, name=OPERATOR)

    def rotate_operator(self) -> IssuedToken:
        """Revoke every operator token and make a new one (when the old one was lost)."""
        with self.database.write() as session:
            for row in session.scalars(
                select(ApiToken).where(ApiToken.role == OPERATOR, ApiToken.revoked_at.is_(None))
            ):
                row.revoked_at = self.clock()
        return self.issue("", role=Role.OPERATOR, name=OPERATOR)

    def authenticate(self, secret: str) -> Principal | None:
        """The caller a presented token stands for, or ``None`` for unknown or revoked tokens."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        with self.database.read() as session:
            found = session.execute(
                select(ApiToken, Tenant.name)
                .outerjoin(Tenant, Tenant.id == ApiToken.tenant_id)
                .where(ApiToken.token_hash == token_digest(secret))
            ).one_or_none()
            if found is None or found[0].revoked_at is not None:
                return None
            row, tenant = found
            return Principal(row.id, row.name, tenant or "", row.tenant_id, Role.named(row.role))

    def listed(self, tenant_id: int) -> list[dict[str, Any]]:
        """The tenant's tokens, without their digests."""
        with self.database.read() as session:
            rows = session.scalars(
                select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id)
            )
            return [_token_doc(row) for row in rows]

    def revoke(self, token_id: int, *, tenant_id: int) -> bool:
        """Revoke one of the tenant's tokens; ``False`` when the tenant has no such token."""
        with self.database.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None or row.tenant_id != tenant_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return True


def _token_doc(row: ApiToken) -> dict[str, Any]:
    revoked = row.revoked_at.isoformat() if row.revoked_at else None
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "createdAt": row.created_at.isoformat(),
        "revokedAt": revoked,
    }


def find_tenant(database: Database, name: str) -> int | None:
    """The id of the tenant called ``name``, or ``None`` when there is none."""
    with database.read() as session:
        return session.scalars(select(Tenant.id).where(Tenant.name == name)).first()


def tenant_row(session: Session, name: str, *, clock: Clock) -> Tenant:
    """The tenant called ``name``, registered if new."""
    row = session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()
    if row is None:
        row = Tenant(name=name, created_at=clock())
        session.add(row)
        session.flush()
    return row


class Grants:
    """Which sites (platform connections) each tenant's environments may name."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def grant(self, tenant: str, sites: Iterable[str]) -> list[str]:
        """Set ``tenant``'s sites to exactly ``sites``; returns them sorted."""
        wanted = sorted(set(sites))
        with self.database.write() as session:
            row = tenant_row(session, tenant, clock=self.clock)
            for grant in session.scalars(select(SiteGrant).where(SiteGrant.tenant_id == row.id)):
                if grant.site not in wanted:
                    session.delete(grant)
            have = set(session.scalars(select(SiteGrant.site).where(SiteGrant.tenant_id == row.id)))
            for site in wanted:
                if site not in have:
                    session.add(SiteGrant(tenant_id=row.id, site=site, granted_at=self.clock()))
        return wanted

    def sites(self, tenant_id: int) -> frozenset[str]:
        with self.database.read() as session:
            rows = session.scalars(select(SiteGrant.site).where(SiteGrant.tenant_id == tenant_id))
            return frozenset(rows)


def scope_violations(
    tenant: str, environment: Mapping[str, Any], *, sites: frozenset[str]
) -> list[str]:
    """Where an ``environment.yaml`` document reaches outside ``tenant``; empty when it does not.

    The manifest's tenant must be the caller's (the Vault mount follows it), every site must be
    one the operator granted, and the folder, tier-1 gateway (under which segments are made) and
    namespace it names on a shared site must carry the tenant's prefix ``<tenant>-``.
    """
    found: list[str] = []
    meta = environment.get("metadata") or {}
    if meta.get("tenant") != tenant:
        found.append(f"metadata.tenant is {meta.get('tenant')!r}, not {tenant!r}")
    declared = (environment.get("spec") or {}).get("sites") or {}
    for platform, field in (("vsphere", "folder"), ("nsx", "tier1"), ("kubernetes", "namespace")):
        site = declared.get(platform)
        if not isinstance(site, Mapping):
            continue
        if site.get("site") not in sites:
            found.append(f"spec.sites.{platform}.site {site.get('site')!r} is not granted")
        if not _owned(str(site.get(field, "")), tenant):
            found.append(f"spec.sites.{platform}.{field} {site.get(field)!r} is not {tenant}-*")
    return found


def _owned(name: str, tenant: str) -> bool:
    # Folders may be paths; every part must stay the tenant's, so "acme-x/../beta" is refused.
    parts = [part for part in name.strip("/").split("/") if part]
    if not parts or any(part in {".", ".."} for part in parts):
        return False
    return parts[0] == tenant or parts[0].startswith(f"{tenant}-")


class Replay(IntEnum):
    """What ``Idempotency.begin`` found for a key."""

    NEW = 0
    STORED = 1
    IN_FLIGHT = 2
    MISMATCH = 3


@dataclass(frozen=True)
class Begun:
    outcome: Replay
    status_code: int = 0
    response: Mapping[str, Any] | None = None


class Idempotency:
    """``Idempotency-Key`` records: the first request claims the key, later ones replay it."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = utc_now,
        ttl: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.database = database
        self.clock = clock
        self.ttl = ttl

    def begin(self, scope: str, key: str, *, fingerprint: str) -> Begun:
        """Claim ``key`` for a request with ``fingerprint``, or say what it already holds."""
        now = self.clock()
        try:
            with self.database.write() as session:
                row = _record(session, scope, key)
                if row is not None and row.expires_at <= now:
                    session.delete(row)
                    session.flush()
                    row = None
                if row is None:
                    session.add(_claim(scope, key, fingerprint, now=now, ttl=self.ttl))
                    return Begun(Replay.NEW)
                return _found(row, fingerprint)
        except IntegrityError:
            # Another request claimed the key between our read and insert: it is in flight.
            return Begun(Replay.IN_FLIGHT)

    def finish(
        self, scope: str, key: str, *, status_code: int, response: Mapping[str, Any]
    ) -> None:
        """Store the answer the first request got, for every repeat to receive."""
        with self.database.write() as session:
            row = _record(session, scope, key)
            if row is not None:
                row.status_code, row.response = status_code, dict(response)

    def abandon(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed unexpectedly, so the client may retry it."""
        with self.database.write() as session:
            row = _record(session, scope, key)
            if row is not None and row.status_code is None:
                session.delete(row)


def _record(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
    )
    return session.scalars(query).one_or_none()


def _claim(
    scope: str, key: str, fingerprint: str, *, now: dt.datetime, ttl: dt.timedelta
) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=scope, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + ttl
    )


def _found(row: IdempotencyRecord, fingerprint: str) -> Begun:
    if row.fingerprint != fingerprint:
        return Begun(Replay.MISMATCH)
    if row.status_code is None:
        return Begun(Replay.IN_FLIGHT)
    return Begun(Replay.STORED, row.status_code, row.response)
