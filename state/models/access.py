"""Who may call the tenant API and what it promised: API tokens, idempotency keys, plan
approvals, the sites the operator granted each tenant, and what a registration referenced.

``state.access`` and ``state.tenancy`` read and write these; ``rxt.api`` calls them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base, BigId, JsonDocument, UtcDateTime


class ApiToken(Base):
    """An API token, kept only as its SHA-256; ``tenant_id`` is empty for the operator."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class IdempotencyRecord(Base):
    """One ``Idempotency-Key`` of one caller scope: the request's fingerprint and the answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(160))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Empty while the first request is still being handled.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PlanApproval(Base):
    """A person's approval of a plan that needs one; the audit chain holds the same facts."""

    __tablename__ = "plan_approvals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    approved_by: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    approved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SiteGrant(Base):
    """A platform connection (``site``) the operator lets one tenant's environments use."""

    __tablename__ = "site_grants"
    __table_args__ = (UniqueConstraint("tenant_id", "site"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    site: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RepositoryRegistration(Base):
    """What a tenant registered with a repository: secret references (never values), the
    notification URL, its own forge, and where each environment's folder is in the repository."""

    __tablename__ = "repository_registrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), unique=True)
    webhook_secret_ref: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    credentials_ref: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    notify_url: Mapped[str | None] = mapped_column(String(1024))
    # The repository's own forge: provider, API URL and a reference to its token; None posts
    # its previews on the engine-wide forge.
    forge: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    environment_paths: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    registered_by: Mapped[str] = mapped_column(String(255))
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
