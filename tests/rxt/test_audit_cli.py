"""``rxt audit`` and ``rxt db`` on a fresh install and on tampered chains, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rxt.cli import main
from rxt.commands.db import open_configured_store
from state import migrating
from state.audit import AuditRecord
from state.database import Database
from tests.state import tampering
from tests.state.conftest import database, postgres_url, sqlite_template

__all__ = ["database", "postgres_url", "sqlite_template"]  # fixtures shared with tests/state


@pytest.fixture
def install(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Settings pointing at an empty database and a data directory with no key yet."""
    monkeypatch.setenv("RXT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RXT_DATABASE_URL", database.engine.url.render_as_string(False))
    monkeypatch.setenv("RXT_CHECKPOINT_EVERY_ENTRIES", "5")
    return database


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _record(count: int, *, tenant: str = "acme", actor: str = "engine") -> None:
    store = open_configured_store()
    records = [AuditRecord(actor, "change.applied", f"vm-{n}") for n in range(count)]
    for record in records:
        store.audit.append(tenant, record)
    store.close()


def test_verify_and_log_work_on_a_fresh_install(
    install: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _run(capsys, "audit", "verify") == (0, "no audit entries yet; nothing to verify\n")
    assert _run(capsys, "audit", "log") == (0, "")
    assert (tmp_path / "data" / "audit-signing-key.pem").exists()


def test_verify_reports_good_chains_in_text_and_json(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(7)
    _record(2, tenant="globex")
    code, out = _run(capsys, "audit", "verify")
    assert code == 0
    assert "acme: ok, 7 entries" in out
    assert "globex: ok, 2 entries" in out
    code, out = _run(capsys, "audit", "verify", "--tenant", "globex", "--output", "json")
    [report] = json.loads(out)
    assert (code, report["ok"], report["entries"], report["problem"]) == (0, True, 2, None)


def test_verify_exits_4_and_names_the_entry_when_one_was_edited(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(6)
    with install.engine.begin() as connection:
        if install.is_postgresql:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        tampering.edit(connection, "acme", 4)
    code, out = _run(capsys, "audit", "verify")
    assert code == 4
    assert "acme: BROKEN at entry 4: entry 4's content does not match its hash" in out


def test_exported_checkpoints_catch_a_tail_rewrite_the_chain_alone_cannot(
    install: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _record(12)
    exported = tmp_path / "checkpoints.json"
    code, out = _run(capsys, "audit", "checkpoint", "export", str(exported))
    assert (code, out) == (0, f"wrote 3 checkpoints to {exported}\n")  # at 1, 6 and 11
    assert _run(capsys, "audit", "verify", "--checkpoints", str(exported))[0] == 0
    with install.engine.begin() as connection:
        if install.is_postgresql:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        tampering.rewrite_tail(connection, "acme", 3)
    assert _run(capsys, "audit", "verify")[0] == 0
    code, out = _run(capsys, "audit", "verify", "--checkpoints", str(exported))
    assert code == 4
    assert "BROKEN at entry 6" in out
    assert "exported checkpoint" in out


def test_the_log_filters_and_prints_json(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(2, actor="alice")
    _record(1, actor="engine")
    code, out = _run(capsys, "audit", "log", "--actor", "alice", "--output", "json")
    entries = json.loads(out)
    assert code == 0
    assert [entry["actor"] for entry in entries] == ["alice", "alice"]
    assert {"seq", "hash", "prev_hash", "details", "at"} <= set(entries[0])
    code, out = _run(capsys, "audit", "log", "--object", "vm-0", "--since", "2000-01-01")
    assert code == 0
    assert len(out.splitlines()) == 2


def test_a_bad_time_is_an_error_that_says_how_to_write_one(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "audit", "log", "--since", "yesterday")
    assert code == 1
    assert "--since 'yesterday' is not a time" in out
    assert "hint: write it as ISO 8601" in out


def test_db_upgrade_and_current_report_the_migration(
    install: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrating.head_revision()
    code, out = _run(capsys, "db", "upgrade")
    assert code == 0
    assert out.endswith(f"at migration {head}\n")
    assert _run(capsys, "db", "current") == (0, f"current: {head}\nnewest:  {head}\n")


def test_an_unreachable_database_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RXT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RXT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, out = _run(capsys, "audit", "verify")
    assert code == 1
    assert "cannot connect to the state database" in out


def test_settings_default_to_sqlite_and_a_key_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rxt.settings import Settings

    monkeypatch.delenv("RXT_DATABASE_URL", raising=False)
    monkeypatch.setenv("RXT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RXT_CHECKPOINT_EVERY_SECONDS", "60")
    monkeypatch.setenv("RXT_NATS_URL", "nats://127.0.0.1:4222")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'rxt.db'}"
    assert settings.signing_key_path == tmp_path / "audit-signing-key.pem"
    assert (settings.checkpoint_every_entries, settings.checkpoint_every_seconds) == (1000, 60)
    assert settings.nats_url == "nats://127.0.0.1:4222"
