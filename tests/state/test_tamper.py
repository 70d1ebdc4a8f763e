"""Bar R5: tampering with a stored chain at random positions is always detected.

Edits, deletions, reorders, insertions and truncations are caught by the chain itself; a rewrite
of the tail with recomputed hashes is consistent by construction and caught only by checkpoints
exported before it happened. The test prints what it tried and what it found.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from sqlalchemy.engine import Connection

from state.audit import AuditLog, AuditRecord
from state.checkpoints import Checkpoint, CheckpointPolicy, SigningKey, stored_checkpoints
from state.database import Database
from tests.state import tampering

TENANT = "acme"
ENTRIES = 60
# Bar R5 asks for 1,000 positions: RXT_TAMPER_ATTEMPTS=200 runs 200 of each of the five kinds.
ATTEMPTS_PER_KIND = int(os.environ.get("RXT_TAMPER_ATTEMPTS", "20"))


def _chain(database: Database, key: SigningKey) -> tuple[Checkpoint, ...]:
    log = AuditLog(database, key=key, policy=CheckpointPolicy(every_entries=10))
    for start in range(0, ENTRIES, 8):
        log.append_batch(
            TENANT,
            [
                AuditRecord("engine", "change.applied", f"vm-{n}", details={"n": n})
                for n in range(start, min(start + 8, ENTRIES))
            ],
        )
    with database.read() as session:
        return tuple(stored_checkpoints(session, tenant=TENANT))


def _reorder(connection: Connection, seq: int) -> None:
    other = seq + 1 if seq < ENTRIES else seq - 1
    tampering.swap(connection, TENANT, seq, other)


KINDS: dict[str, tuple[Callable[[Connection, int], None], range]] = {
    "edit": (lambda c, seq: tampering.edit(c, TENANT, seq), range(1, ENTRIES + 1)),
    "delete": (lambda c, seq: tampering.remove(c, TENANT, seq), range(1, ENTRIES + 1)),
    "reorder": (_reorder, range(1, ENTRIES + 1)),
    "insert": (lambda c, seq: tampering.insert_forged(c, TENANT, seq), range(1, ENTRIES + 2)),
    "truncate": (lambda c, seq: tampering.truncate(c, TENANT, seq), range(1, ENTRIES + 1)),
}


def test_edits_deletions_reorders_insertions_and_truncations_are_all_detected(
    database: Database, key: SigningKey
) -> None:
    _chain(database, key)
    rng = random.Random(5)
    found: dict[str, int] = {}
    for kind, (tamper, positions) in KINDS.items():
        found[kind] = 0
        for seq in rng.choices(positions, k=ATTEMPTS_PER_KIND):
            with tampering.tampering(database) as connection:
                tamper(connection, seq)
                report = tampering.verify_in(connection, TENANT, key=key)
            found[kind] += report.problem is not None
    for kind, count in found.items():
        print(f"R5 {database.dialect}: {kind:<9} detected {count}/{ATTEMPTS_PER_KIND}")
    assert found == dict.fromkeys(KINDS, ATTEMPTS_PER_KIND)


def test_a_tail_rewrite_with_recomputed_hashes_is_caught_only_by_exported_checkpoints(
    database: Database, key: SigningKey
) -> None:
    exported = _chain(database, key)
    newest = max(checkpoint.seq for checkpoint in exported)
    rng = random.Random(6)
    passed_alone = caught_with_export = 0
    for seq in rng.choices(range(1, newest + 1), k=ATTEMPTS_PER_KIND):
        with tampering.tampering(database) as connection:
            tampering.rewrite_tail(connection, TENANT, seq)
            alone = tampering.verify_in(connection, TENANT, key=key)
            with_export = tampering.verify_in(connection, TENANT, key=key, exported=exported)
        passed_alone += alone.ok
        caught_with_export += with_export.problem is not None
        assert with_export.problem is None or with_export.problem.seq >= seq
    print(
        f"R5 {database.dialect}: tail rewrite passes the chain alone {passed_alone}/"
        f"{ATTEMPTS_PER_KIND}, caught by exported checkpoints {caught_with_export}/"
        f"{ATTEMPTS_PER_KIND}"
    )
    assert passed_alone == ATTEMPTS_PER_KIND  # the documented limit of a chain on its own
    assert caught_with_export == ATTEMPTS_PER_KIND
