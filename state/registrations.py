"""Every repository registered through the tenant API, read for the engine: its tenant, URL,
branch, secret references and environment folders. ``reconciler.wiring.registered`` calls it.

Only references are stored (``state.tenancy`` writes them); the engine resolves them in Vault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.resources import SecretRef
from state.database import Database
from state.models import Repository, RepositoryRegistration, Tenant


@dataclass(frozen=True)
class RegisteredRepository:
    """One registration as the engine adopts it; references, never values."""

    repository_id: int
    tenant: str
    url: str
    branch: str
    webhook_secret_ref: SecretRef
    credentials_ref: SecretRef | None = None
    environments: Mapping[str, str] = field(default_factory=dict)  # name -> folder in the repo
    notify_url: str = ""


def registered_repositories(database: Database) -> list[RegisteredRepository]:
    """Every registration of every tenant, oldest first (so the first of two claiming one
    webhook name keeps it)."""
    query = (
        select(Repository, RepositoryRegistration, Tenant.name)
        .join(RepositoryRegistration, RepositoryRegistration.repository_id == Repository.id)
        .join(Tenant, Tenant.id == Repository.tenant_id)
        .order_by(Repository.id)
    )
    with database.read() as session:
        return [_registered(repo, reg, tenant) for repo, reg, tenant in session.execute(query)]


def _registered(
    repo: Repository, registration: RepositoryRegistration, tenant: str
) -> RegisteredRepository:
    credentials = registration.credentials_ref
    return RegisteredRepository(
        repository_id=repo.id,
        tenant=tenant,
        url=repo.url,
        branch=repo.branch,
        webhook_secret_ref=_ref(registration.webhook_secret_ref),
        credentials_ref=_ref(credentials) if credentials else None,
        environments={str(k): str(v) for k, v in (registration.environment_paths or {}).items()},
        notify_url=registration.notify_url or "",
    )


def _ref(doc: Mapping[str, Any]) -> SecretRef:
    # The API checked these on registration; an empty part is refused later by the Vault layout.
    return SecretRef(str(doc.get("path", "")), str(doc.get("key", "")))
