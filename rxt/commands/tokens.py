"""``rxt token``: make, list and revoke API tokens of the tenant API, and grant a tenant its
sites, from the command line. A token's secret is printed once; only its SHA-256 is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from core.errors import RxtError
from rxt.commands.db import fail, open_configured_store
from state.access import Grants, Role, Tokens, find_tenant
from state.audit import AuditRecord
from state.store import Store

app = typer.Typer(help="API tokens of the tenant API (/api/v1).", no_args_is_help=True)

Tenant = Annotated[str, typer.Option(help="The tenant the token is bound to.")]
ACTOR = "cli:rxt-token"


@contextmanager
def _store() -> Iterator[Store]:
    try:
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    try:
        yield store
    except RxtError as error:
        raise fail(error) from error
    finally:
        store.close()


@app.command("create")
def create_command(
    tenant: Tenant,
    role: Annotated[str, typer.Option(help="viewer, deployer or admin.")],
    name: Annotated[str, typer.Option(help="What the token is for, shown in listings.")] = "cli",
) -> None:
    """Make a token and print its secret once."""
    with _store() as store:
        issued = Tokens(store.database).issue(tenant, role=_tenant_role(role), name=name)
        record = AuditRecord(ACTOR, "token.created", f"token/{issued.principal.token_id}",
                             details={"role": role, "name": name})  # fmt: skip
        store.audit.append(tenant, record)
    typer.echo(f"token {issued.principal.token_id} ({role} of {tenant}), shown once:")
    typer.echo(issued.secret)


@app.command("list")
def list_command(tenant: Tenant) -> None:
    """List the tenant's tokens (never their secrets)."""
    with _store() as store:
        tenant_id = find_tenant(store.database, tenant)
        rows = Tokens(store.database).listed(tenant_id) if tenant_id else []
    for row in rows:
        state = f"revoked {row['revokedAt']}" if row["revokedAt"] else "active"
        typer.echo(f"{row['id']:>6}  {row['role']:<9} {state:<10} {row['name']}")


@app.command("revoke")
def revoke_command(
    token_id: Annotated[int, typer.Argument(help="The token's id, from 'rxt token list'.")],
    tenant: Tenant,
) -> None:
    """Revoke one of the tenant's tokens."""
    with _store() as store:
        tenant_id = find_tenant(store.database, tenant)
        revoked = bool(tenant_id) and Tokens(store.database).revoke(
            token_id, tenant_id=tenant_id or 0
        )
        if revoked:
            store.audit.append(tenant, AuditRecord(ACTOR, "token.revoked", f"token/{token_id}"))
    if not revoked:
        typer.echo(f"error: tenant {tenant} has no token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"token {token_id} of {tenant} revoked")


@app.command("grant-sites")
def grant_command(
    tenant: Tenant,
    site: Annotated[list[str], typer.Option(help="A site the tenant may use; repeat it.")],
) -> None:
    """Set the sites (platform connections) a tenant's environments may name."""
    with _store() as store:
        sites = Grants(store.database).grant(tenant, site)
        record = AuditRecord(ACTOR, "tenant.sites_granted", f"tenant/{tenant}",
                             details={"sites": sites})  # fmt: skip
        store.audit.append(tenant, record)
    typer.echo(f"{tenant} may use: {', '.join(sites) or '(no site)'}")


@app.command("rotate-operator")
def rotate_command() -> None:
    """Revoke the operator token and print a new one once (when the old one was lost)."""
    with _store() as store:
        issued = Tokens(store.database).rotate_operator()
    typer.echo("new operator token, shown once (the old one is revoked):")
    typer.echo(issued.secret)


def _tenant_role(name: str) -> Role:
    role = Role.named(name)
    if role is Role.OPERATOR:
        raise typer.BadParameter("the operator token is made on first start; use a tenant role")
    return role


def register(root: typer.Typer) -> None:
    """Add ``rxt token`` to the command line."""
    root.add_typer(app, name="token")
