"""``rxt token`` against the configured store on both databases: a token made on the command line
works on the API, is listed without its secret, and stops working once revoked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxt.cli import main
from rxt.commands.db import open_configured_store
from state.access import Tokens, find_tenant
from state.database import Database
from tests.state.conftest import database, postgres_url, sqlite_template

__all__ = ["database", "postgres_url", "sqlite_template"]  # fixtures shared with tests/state


@pytest.fixture
def install(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("RXT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RXT_DATABASE_URL", database.engine.url.render_as_string(False))
    return database


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_token_made_on_the_command_line_works_until_revoked(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "token", "create", "--tenant", "acme", "--role", "deployer")
    assert code == 0, out
    secret = out.split()[-1]
    store = open_configured_store()
    tokens = Tokens(store.database)
    principal = tokens.authenticate(secret)
    assert principal is not None
    assert (principal.tenant, principal.role.name) == ("acme", "DEPLOYER")
    code, listing = _run(capsys, "token", "list", "--tenant", "acme")
    assert code == 0
    assert "deployer" in listing
    assert secret not in listing
    code, out = _run(capsys, "token", "revoke", str(principal.token_id), "--tenant", "acme")
    assert code == 0, out
    assert tokens.authenticate(secret) is None
    store.close()


def test_a_token_of_another_tenant_cannot_be_revoked_by_naming_the_wrong_tenant(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "token", "create", "--tenant", "beta", "--role", "viewer")
    _run(capsys, "token", "create", "--tenant", "acme", "--role", "viewer")
    store = open_configured_store()
    beta = find_tenant(store.database, "beta")
    assert beta is not None
    beta_token = Tokens(store.database).listed(beta)[0]["id"]
    store.close()
    code, out = _run(capsys, "token", "revoke", str(beta_token), "--tenant", "acme")
    assert code == 1
    assert "has no token" in out


@pytest.mark.parametrize("role", ["operator", "root", ""])
def test_only_tenant_roles_can_be_made_on_the_command_line(
    install: Database, capsys: pytest.CaptureFixture[str], role: str
) -> None:
    code, _ = _run(capsys, "token", "create", "--tenant", "acme", "--role", role)
    assert code != 0


def test_granting_sites_on_the_command_line(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "token", "grant-sites", "--tenant", "acme",
                     "--site", "spot-dfw", "--site", "nsx-dfw")  # fmt: skip
    assert code == 0, out
    assert "nsx-dfw, spot-dfw" in out


def test_rotating_the_operator_token_revokes_the_old_one(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_configured_store()
    tokens = Tokens(store.database)
    first = tokens.ensure_operator()
    assert first is not None
    code, out = _run(capsys, "token", "rotate-operator")
    assert code == 0, out
    assert tokens.authenticate(first.secret) is None
    rotated = tokens.authenticate(out.split()[-1])
    assert rotated is not None
    assert rotated.role.name == "OPERATOR"
    assert tokens.ensure_operator() is None
    store.close()
