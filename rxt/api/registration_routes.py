"""The tenant API's registrations under ``/api/v1/repositories``: register a repository and its
environments, change or delete a registration, list and read them. ``rxt.api.tenants.install``
mounts ``router`` beside the other tenant routes.

Only references to secrets are accepted, never values (a forge's token too); every environment
manifest is checked against the caller's tenant and granted sites, and every URL the engine will
send to against the operator's URL policy, before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner.manifests import Environment as EnvironmentManifest
from reconciler.wiring.registered import environment_folder
from rxt.api.access import (
    Admin,
    ApiProblem,
    Deployer,
    Viewer,
    idempotent,
    not_found,
    services,
    tenant_id_of,
)
from rxt.api.urls import UrlRefused
from state.access import Principal, Role, scope_violations
from state.tenancy import Conflict, Refused, Registration, RegistrationChange

router = APIRouter(prefix="/api/v1", tags=["tenant"])

_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_REF_PATH = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _inside(path: str) -> str:
    # The pattern admits dots, so "." and ".." segments are refused here: they would climb out
    # of the tenant's Vault mount or the repository.
    if any(part in {".", ".."} for part in path.split("/")):
        raise ValueError("'.' and '..' segments are not allowed")
    return path


class SecretRefBody(_Body):
    """Where a secret lives under the tenant's Vault KV v2 mount; never the value itself."""

    path: str = Field(pattern=_REF_PATH, max_length=512, examples=["ci/github-webhook"])
    key: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=128, examples=["secret"])

    _path_inside = field_validator("path")(_inside)


class ForgeBody(_Body):
    """The forge the repository's pull request previews are posted to, with the tenant's own
    token; the engine sends that token to ``apiUrl``, so the URL passes the same checks as the
    repository's."""

    provider: Literal["github", "gitlab"]
    api_url: str = Field(
        default="", alias="apiUrl", max_length=1024,
        description="The forge's API root; empty means api.github.com or gitlab.com/api/v4.",
        examples=["https://gitlab.example.com/api/v4"],
    )  # fmt: skip
    token_ref: SecretRefBody = Field(alias="tokenRef")


class EnvironmentBody(_Body):
    name: str = Field(pattern=_LABEL, description="The environment's name, a DNS label.")
    path: str = Field(pattern=_REF_PATH, max_length=512, examples=["environments/prod"])
    manifest: dict[str, Any] = Field(
        description="The environment.yaml at the registered branch, as a JSON object; "
        "checked against the caller's tenant and the sites granted to it."
    )

    _path_inside = field_validator("path")(_inside)


class RegistrationBody(_Body):
    url: str = Field(max_length=1024, description="The repository's http(s) clone URL.")
    branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]+$", max_length=255)
    webhook_secret_ref: SecretRefBody = Field(alias="webhookSecretRef")
    credentials_ref: SecretRefBody | None = Field(default=None, alias="credentialsRef")
    notify_url: str | None = Field(default=None, alias="notifyUrl", max_length=1024)
    forge: ForgeBody | None = None
    environments: list[EnvironmentBody] = Field(min_length=1, max_length=50)


class RegistrationPatchBody(_Body):
    """The fields to change; a field left out stays as it is."""

    branch: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._/-]+$", max_length=255)
    webhook_secret_ref: SecretRefBody | None = Field(default=None, alias="webhookSecretRef")
    credentials_ref: SecretRefBody | None = Field(
        default=None, alias="credentialsRef", description="null removes it"
    )
    notify_url: str | None = Field(
        default=None, alias="notifyUrl", max_length=1024, description="null removes it"
    )
    forge: ForgeBody | None = Field(
        default=None, description="null removes it: previews go to the engine-wide forge"
    )
    add_environments: list[EnvironmentBody] = Field(
        default_factory=list, alias="addEnvironments", max_length=50
    )
    remove_environments: list[Annotated[str, Field(pattern=_LABEL)]] = Field(
        default_factory=list,
        alias="removeEnvironments",
        max_length=50,
        description="Names of environments to stop following; needs the admin role.",
    )


@router.post("/repositories", status_code=201, summary="Register a repository and environments")
def register_repository(
    request: Request, body: RegistrationBody, principal: Deployer
) -> JSONResponse:
    def produce() -> tuple[int, dict[str, Any]]:
        registration = _checked(request, body, principal)
        api = services(request)
        try:
            doc = api.tenancy.register(
                tenant_id_of(principal), registration,
                tenant=principal.tenant, actor=principal.actor,
            )  # fmt: skip
        except Conflict as error:
            raise ApiProblem(409, "conflict", error.render()) from error
        _wake(request)
        return 201, doc

    return idempotent(request, principal, body.model_dump(mode="json", by_alias=True), produce)


def _checked(request: Request, body: RegistrationBody, principal: Principal) -> Registration:
    api = services(request)
    try:
        api.urls.check(body.url, what="repository URL")
        _check_urls(request, notify_url=body.notify_url, forge=body.forge)
    except UrlRefused as error:
        raise ApiProblem(422, "url-refused", error.render()) from error
    sites = api.grants.sites(tenant_id_of(principal))
    for env in body.environments:
        _check_folder(env)
        _check_manifest(env, tenant=principal.tenant, sites=sites)
    return Registration(
        url=body.url, branch=body.branch,
        webhook_secret_ref=body.webhook_secret_ref.model_dump(),
        credentials_ref=body.credentials_ref.model_dump() if body.credentials_ref else None,
        notify_url=body.notify_url,
        environments={env.name: env.path for env in body.environments},
        forge=_forge(body.forge),
    )  # fmt: skip


def _check_urls(request: Request, *, notify_url: str | None, forge: ForgeBody | None) -> None:
    """The URLs the engine will send to; a forge's API gets the tenant's token.

    Raises:
        UrlRefused: one aims where the operator's URL policy does not allow.
    """
    api = services(request)
    if notify_url:
        api.urls.check(notify_url, what="notification URL")
    if forge is not None and forge.api_url:
        api.urls.check(forge.api_url, what="forge API URL")


def _forge(body: ForgeBody | None) -> dict[str, Any] | None:
    return body.model_dump(by_alias=True) if body is not None else None


@router.patch("/repositories/{repository_id}", summary="Change a registration")
def update_repository(
    request: Request, repository_id: int, body: RegistrationPatchBody, principal: Deployer
) -> JSONResponse:
    def produce() -> tuple[int, dict[str, Any]]:
        change = _checked_change(request, body, principal)
        api = services(request)
        try:
            doc = api.tenancy.update(
                tenant_id_of(principal), repository_id, change,
                tenant=principal.tenant, actor=principal.actor,
            )  # fmt: skip
        except Conflict as error:
            raise ApiProblem(409, "conflict", error.render()) from error
        except Refused as error:
            raise ApiProblem(422, "invalid-change", error.render()) from error
        if doc is None:
            raise not_found("repository", repository_id)
        _wake(request)
        return 200, doc

    sent = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return idempotent(request, principal, {"id": repository_id, **sent}, produce)


@router.delete("/repositories/{repository_id}", summary="Delete a registration")
def delete_repository(request: Request, repository_id: int, principal: Admin) -> JSONResponse:
    # Admin, not deployer: deleting stops every environment of the repository from being
    # reconciled and checked for drift, as withdrawing an approval gate would; the tenant's
    # owners decide that. Registering again restores the environments with their history.
    def produce() -> tuple[int, dict[str, Any]]:
        api = services(request)
        doc = api.tenancy.remove(
            tenant_id_of(principal), repository_id, tenant=principal.tenant, actor=principal.actor
        )
        if doc is None:
            raise not_found("repository", repository_id)
        _wake(request)
        return 200, doc

    return idempotent(request, principal, {"id": repository_id}, produce)


def _wake(request: Request) -> None:
    api = services(request)
    if api.registered is not None:
        api.registered()


def _checked_change(
    request: Request, body: RegistrationPatchBody, principal: Principal
) -> RegistrationChange:
    given = body.model_fields_set
    if not given:
        raise ApiProblem(422, "invalid-change", "the body names nothing to change")
    for name in ("branch", "webhook_secret_ref"):
        if name in given and getattr(body, name) is None:
            raise ApiProblem(422, "invalid-change", f"{name} cannot be null; leave it out")
    if body.remove_environments and principal.role < Role.ADMIN:
        detail = "removing environments needs the admin role, like deleting the repository"
        raise ApiProblem(403, "forbidden", detail)
    api = services(request)
    try:
        _check_urls(request, notify_url=body.notify_url, forge=body.forge)
    except UrlRefused as error:
        raise ApiProblem(422, "url-refused", error.render()) from error
    sites = api.grants.sites(tenant_id_of(principal)) if body.add_environments else frozenset()
    for env in body.add_environments:
        _check_folder(env)
        _check_manifest(env, tenant=principal.tenant, sites=sites)
    return RegistrationChange(
        branch=body.branch,
        webhook_secret_ref=_ref(body.webhook_secret_ref),
        credentials_ref=_ref(body.credentials_ref),
        notify_url=body.notify_url,
        forge=_forge(body.forge),
        cleared=frozenset(n for n in ("credentials_ref", "notify_url", "forge") if n in given),
        add={env.name: env.path for env in body.add_environments},
        remove=frozenset(body.remove_environments),
    )


def _ref(body: SecretRefBody | None) -> dict[str, Any] | None:
    return body.model_dump() if body is not None else None


def _check_folder(env: EnvironmentBody) -> None:
    folder = environment_folder(env.name)
    if env.path.strip("/") != folder:
        detail = (
            f"environment {env.name}: path {env.path!r} is not supported; the engine reads an "
            f"environment only from {folder!r}"
        )
        raise ApiProblem(422, "unsupported-path", detail)


def _check_manifest(env: EnvironmentBody, *, tenant: str, sites: frozenset[str]) -> None:
    try:
        manifest = EnvironmentManifest.model_validate(env.manifest)
    except ValidationError as error:
        errors = [
            {"pointer": "/" + "/".join(str(p) for p in item["loc"]), "detail": item["msg"]}
            for item in error.errors()
        ]
        detail = f"environment {env.name}: environment.yaml is not valid"
        raise ApiProblem(422, "invalid-manifest", detail, errors=errors) from None
    if manifest.metadata.name != env.name:
        detail = f"environment {env.name}: metadata.name is {manifest.metadata.name!r}"
        raise ApiProblem(422, "invalid-manifest", detail)
    document = manifest.model_dump(mode="json", by_alias=True)
    violations = scope_violations(tenant, document, sites=sites)
    if violations:
        detail = f"environment {env.name} reaches outside tenant {tenant}"
        raise ApiProblem(403, "outside-tenant", detail, violations=violations)


@router.get("/repositories", summary="The tenant's repositories")
def list_repositories(request: Request, principal: Viewer) -> dict[str, Any]:
    return {"items": services(request).tenancy.repositories(tenant_id_of(principal))}


@router.get("/repositories/{repository_id}", summary="One repository")
def get_repository(request: Request, repository_id: int, principal: Viewer) -> dict[str, Any]:
    doc = services(request).tenancy.repository(tenant_id_of(principal), repository_id)
    if doc is None:
        raise not_found("repository", repository_id)
    return doc
