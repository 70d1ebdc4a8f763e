"""The audit chain: appends verify, any flipped byte breaks it, no secret enters it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.logs import register_secret
from state import verifying
from state.audit import AuditLog, AuditRecord, LogFilter
from state.checkpoints import CheckpointPolicy, SigningKey, stored_checkpoints
from state.database import Database
from state.models import Base
from state.store import Store
from state.verifying import verify_chains
from tests.state import tampering
from tests.state.conftest import FakeClock

short_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12
)
records = st.builds(
    AuditRecord,
    actor=short_text,
    action=short_text,
    object=short_text,
    commit=st.text(alphabet="0123456789abcdef", max_size=40),
    plan_id=short_text,
    details=st.dictionaries(
        st.text(max_size=5),
        st.integers(-1000, 1000) | st.text(max_size=8) | st.lists(st.booleans(), max_size=3),
        max_size=4,
    ),
)
batches = st.lists(st.lists(records, min_size=1, max_size=4), min_size=1, max_size=4)


def test_appended_entries_chain_from_genesis_and_verify(store: Store) -> None:
    first = store.audit.append("acme", AuditRecord("engine", "plan.applied", "acme/prod"))
    batch = store.audit.append_batch(
        "acme", [AuditRecord("engine", "change.applied", f"vm-{n}") for n in range(3)]
    )
    assert [entry.fields.seq for entry in (first, *batch)] == [1, 2, 3, 4]
    assert first.prev_hash == "0" * 64
    assert [entry.prev_hash for entry in batch] == [first.hash, batch[0].hash, batch[1].hash]
    [report] = verify_chains(store.database, public_key=store.key.public)
    assert (report.ok, report.entries, report.last_hash) == (True, 4, batch[-1].hash)


def test_each_tenant_has_its_own_chain(store: Store) -> None:
    store.audit.append("acme", AuditRecord("engine", "plan.applied", "a"))
    other = store.audit.append("globex", AuditRecord("engine", "plan.applied", "b"))
    assert other.fields.seq == 1
    reports = verify_chains(store.database, public_key=store.key.public)
    assert [(r.tenant, r.ok, r.entries) for r in reports] == [
        ("acme", True, 1),
        ("globex", True, 1),
    ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sequence=batches,
    pick=st.integers(min_value=0, max_value=10_000),
    column=st.sampled_from(tampering.ALL_COLUMNS),
    position=st.integers(min_value=0, max_value=10_000),
)
def test_any_append_sequence_verifies_and_any_flipped_byte_breaks_it_at_that_entry(
    *,
    database: Database,
    key: SigningKey,
    sequence: list[list[AuditRecord]],
    pick: int,
    column: str,
    position: int,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    log = AuditLog(database, key=key, policy=CheckpointPolicy(every_entries=3))
    for batch in sequence:
        log.append_batch(tenant, batch)
    [report] = verify_chains(database, public_key=key.public, tenant=tenant)
    assert report.ok, report.problem
    seq = pick % report.entries + 1
    with tampering.tampering(database) as connection:
        if not tampering.flip(connection, tenant, seq, column=column, position=position):
            return  # an empty column has no byte to flip
        broken = tampering.verify_in(connection, tenant, key=key)
    assert broken.problem is not None
    assert broken.problem.seq == seq, broken.problem.reason


def test_a_canary_secret_handed_to_the_audit_api_never_reaches_the_database(
    store: Store, tmp_path: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    register_secret(canary)
    # The secret's name is made of nothing another test may have registered as a secret in this
    # process (a simulator's password "pass" would be hidden inside "db-password").
    name = f"db-{uuid.uuid4().hex[:12]}"
    store.audit.append_batch(
        "acme",
        [
            AuditRecord(
                "engine",
                "secret.written",
                f"vault:kv/{canary}",
                details={"value": canary, "password": canary, canary: "as a key"},
                secrets={name: canary},
            ),
            AuditRecord("engine", "change.applied", "vm", details={"error": f"bad {canary} x"}),
        ],
    )
    assert canary not in _all_text(store.database)
    entry = store.audit.entries(LogFilter(tenant="acme", limit=1, object="vault"))[0]
    digests = json.loads(entry.fields.details)["secret_digests"]
    assert digests == {name: store.audit.secret_digest(canary)}
    if not store.database.is_postgresql:
        path = Path(str(store.database.engine.url.database))
        for file in (path, path.with_name(path.name + "-wal")):
            assert canary.encode() not in (file.read_bytes() if file.exists() else b"")


def _all_text(database: Database) -> str:
    chunks: list[str] = []
    with database.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                chunks.extend(json.dumps(value, default=str) for value in row)
    return "\n".join(chunks)


def test_checkpoints_are_signed_every_n_entries_and_after_t_seconds(
    store: Store, clock: FakeClock
) -> None:
    for _ in range(25):
        store.audit.append("acme", AuditRecord("engine", "change.applied", "vm"))
    clock.advance(3600)
    store.audit.append("acme", AuditRecord("engine", "change.applied", "vm"))
    with store.database.read() as session:
        seqs = [checkpoint.seq for checkpoint in stored_checkpoints(session, tenant="acme")]
    assert seqs == [1, 11, 21, 26]
    [report] = verify_chains(store.database, public_key=store.key.public)
    assert (report.ok, report.checkpoints) == (True, 4)


def test_a_checkpoint_signed_by_another_key_breaks_verification(store: Store) -> None:
    store.audit.append("acme", AuditRecord("engine", "change.applied", "vm"))
    [report] = verify_chains(store.database, public_key=SigningKey.generate().public)
    assert report.problem is not None
    assert "does not carry a valid signature" in report.problem.reason


def test_the_log_filters_by_tenant_object_actor_and_time(store: Store, clock: FakeClock) -> None:
    plan: list[tuple[str, str, str]] = [
        ("acme", "alice", "vm-web"),
        ("acme", "engine", "vm-db"),
        ("globex", "engine", "k8s:Deployment/web"),
    ]
    for tenant, actor, obj in plan:
        store.audit.append(tenant, AuditRecord(actor, "change.applied", obj))
        clock.advance(60)

    def objects(**query: Any) -> list[str]:
        return [entry.fields.object for entry in store.audit.entries(LogFilter(**query))]

    start = clock.now - dt.timedelta(seconds=180)
    assert objects() == ["k8s:Deployment/web", "vm-db", "vm-web"]
    assert objects(tenant="acme") == ["vm-db", "vm-web"]
    assert objects(object="web") == ["k8s:Deployment/web", "vm-web"]
    assert objects(actor="engine", tenant="acme") == ["vm-db"]
    assert objects(since=start + dt.timedelta(seconds=60)) == ["k8s:Deployment/web", "vm-db"]
    assert objects(until=start + dt.timedelta(seconds=60)) == ["vm-web"]


def test_appends_committed_while_a_chain_is_verified_do_not_break_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        store.audit.append("acme", AuditRecord("engine", "change.applied", f"vm-{n}"))
    check_end = verifying._check_end

    def append_then_check(session: Session, walk: Any) -> Any:
        store.audit.append("acme", AuditRecord("engine", "change.applied", "late"))
        return check_end(session, walk)

    monkeypatch.setattr(verifying, "_check_end", append_then_check)
    [report] = verify_chains(store.database, public_key=store.key.public)
    assert (report.ok, report.entries) == (True, 5), report.problem


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (AuditRecord("engine\n", "plan.applied", "prod"), "actor 'engine\\\\n' holds a control"),
        (AuditRecord("engine", "plan.applied", "x" * 1025), "object is 1025 characters long"),
        (AuditRecord("engine", "plan.applied", "prod", commit="c" * 65), "commit is 65"),
    ],
)
def test_fields_that_either_database_could_not_keep_exactly_are_refused(
    store: Store, record: AuditRecord, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.audit.append("acme", record)
    assert verify_chains(store.database, public_key=store.key.public) == []
