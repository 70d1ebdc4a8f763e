"""Every repository registered through the tenant API, read for the engine: its tenant, URL,
branch, secret references, environment folders and own forge. ``reconciler.wiring.registered``
calls it. Also the row-level steps of changing a registration, which ``state.tenancy`` runs in
its writes.

Only references are stored (``state.tenancy`` writes them); the engine resolves them in Vault.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.errors import StateError
from core.resources import SecretRef
from state.database import Database
from state.models import Environment, Repository, RepositoryRegistration, Tenant


class Conflict(StateError):
    """The request collides with something the tenant already has."""


class Refused(StateError):
    """The request cannot be applied as asked (an unknown name, nothing left)."""


@dataclass(frozen=True)
class RegistrationChange:
    """What a change of a registration sets; ``None`` keeps a field, and the fields named in
    ``cleared`` (``credentials_ref``, ``notify_url``, ``forge``) are emptied."""

    branch: str | None = None
    webhook_secret_ref: Mapping[str, Any] | None = None
    credentials_ref: Mapping[str, Any] | None = None
    notify_url: str | None = None
    forge: Mapping[str, Any] | None = None  # provider, apiUrl, tokenRef
    cleared: frozenset[str] = frozenset()
    add: Mapping[str, str] = field(default_factory=dict)  # name -> folder in the repo
    remove: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RegisteredForge:
    """The forge a registration's previews are posted to, and where its token is in Vault."""

    provider: str
    api_url: str
    token_ref: SecretRef


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
    forge: RegisteredForge | None = None


def registered_repositories(database: Database) -> list[RegisteredRepository]:
    """Every registration of every tenant, oldest first (so the first of two claiming one
    webhook name keeps it); deleted ones are left out, so the engine stops following them."""
    query = (
        select(Repository, RepositoryRegistration, Tenant.name)
        .join(RepositoryRegistration, RepositoryRegistration.repository_id == Repository.id)
        .join(Tenant, Tenant.id == Repository.tenant_id)
        .where(Repository.removed_at.is_(None))
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
        forge=_forge(registration.forge) if registration.forge else None,
    )


def _forge(doc: Mapping[str, Any]) -> RegisteredForge:
    return RegisteredForge(
        provider=str(doc.get("provider", "")),
        api_url=str(doc.get("apiUrl", "")),
        token_ref=_ref(doc.get("tokenRef") or {}),
    )


def _ref(doc: Mapping[str, Any]) -> SecretRef:
    # The API checked these on registration; an empty part is refused later by the Vault layout.
    return SecretRef(str(doc.get("path", "")), str(doc.get("key", "")))


def removed_repository(session: Session, tenant_id: int, url: str) -> Repository | None:
    query = select(Repository).where(
        Repository.tenant_id == tenant_id, Repository.url == url, Repository.removed_at.isnot(None)
    )
    return session.scalars(query).one_or_none()


def registration_of(session: Session, repo: Repository) -> RepositoryRegistration:
    query = select(RepositoryRegistration).where(RepositoryRegistration.repository_id == repo.id)
    row = session.scalars(query).one_or_none()
    if row is None:  # every repository the API stored has one; the engine's own have none
        raise Refused(
            f"repository {repo.url} was not registered through the API",
            hint="it comes from the engine's configuration file; change it there",
        )
    return row


def environments_of(repository_id: int) -> Select[Any]:
    return select(Environment).where(
        Environment.repository_id == repository_id, Environment.removed_at.is_(None)
    )


def claim_environment(
    session: Session, tenant_id: int, repository_id: int, name: str, *, now: dt.datetime
) -> None:
    """Revive the tenant's removed environment of this name, with its history, or add one; an
    environment of this name still followed makes the insert fail (``IntegrityError``)."""
    removed = session.scalars(
        select(Environment).where(
            Environment.tenant_id == tenant_id,
            Environment.name == name,
            Environment.removed_at.isnot(None),
        )
    ).one_or_none()
    if removed is not None:
        removed.removed_at, removed.repository_id = None, repository_id
        return
    session.add(
        Environment(tenant_id=tenant_id, repository_id=repository_id, name=name, created_at=now)
    )
    session.flush()


def check_change(repo: Repository, paths: Mapping[str, str], change: RegistrationChange) -> None:
    unknown = sorted(change.remove - set(paths))
    if unknown:
        raise Refused(
            f"repository {repo.id}: environment {', '.join(unknown)} is not in it",
            hint="read the repository for its environments' names",
        )
    if not (set(paths) - change.remove) | set(change.add):
        raise Refused(
            f"repository {repo.id}: the change would leave it no environment",
            hint="delete the repository instead (DELETE /api/v1/repositories/{id})",
        )
    again = sorted(set(change.add) & (set(paths) - change.remove))
    if again:
        raise Conflict(
            f"repository {repo.id}: environment {', '.join(again)} is already in it",
            hint="add only environments the repository does not have",
        )


def set_fields(
    repo: Repository, reg: RepositoryRegistration, change: RegistrationChange
) -> list[str]:
    """Set the changed scalar fields; returns their names, for the audit entry."""
    fields = []
    if change.branch is not None:
        repo.branch = change.branch
        fields.append("branch")
    if change.webhook_secret_ref is not None:
        reg.webhook_secret_ref = dict(change.webhook_secret_ref)
        fields.append("webhookSecretRef")
    if change.credentials_ref is not None or "credentials_ref" in change.cleared:
        refs = change.credentials_ref
        reg.credentials_ref = dict(refs) if refs is not None else None
        fields.append("credentialsRef")
    if change.notify_url is not None or "notify_url" in change.cleared:
        reg.notify_url = change.notify_url
        fields.append("notifyUrl")
    if change.forge is not None or "forge" in change.cleared:
        reg.forge = dict(change.forge) if change.forge is not None else None
        fields.append("forge")
    return fields
