"""Several engines on one PostgreSQL: appends never fork a chain, claims never overlap."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from state.audit import AuditLog, AuditRecord
from state.checkpoints import SigningKey
from state.database import Database, open_database
from state.queue import WorkQueue
from state.verifying import verify_chains

APPENDERS = 4
BATCHES_PER_APPENDER = 15


def _append(url: str, worker: int, raw_key: bytes) -> int:
    database = open_database(url)
    log = AuditLog(database, key=SigningKey(Ed25519PrivateKey.from_private_bytes(raw_key)))
    appended = 0
    for batch in range(BATCHES_PER_APPENDER):
        records = [
            AuditRecord(f"engine-{worker}", "change.applied", f"vm-{batch}-{n}")
            for n in range(batch % 3 + 1)
        ]
        appended += len(log.append_batch("acme", records))
    database.dispose()
    return appended


def test_four_processes_appending_to_one_chain_leave_it_valid_and_without_gaps(
    postgres: Database, key: SigningKey
) -> None:
    url = postgres.engine.url.render_as_string(hide_password=False)
    raw_key = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    # A fork server imports the store once and forks clean workers from it: quicker than
    # spawning four interpreters, and no worker inherits this process's connections.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["state.audit"])
    with ProcessPoolExecutor(APPENDERS, mp_context=context) as pool:
        counts = list(pool.map(_append, [url] * APPENDERS, range(APPENDERS), [raw_key] * 4))
    [report] = verify_chains(postgres, public_key=key.public, tenant="acme")
    assert report.ok, report.problem
    assert report.entries == report.last_seq == sum(counts) == APPENDERS * 30


def test_two_workers_never_claim_the_same_item(postgres: Database) -> None:
    queue = WorkQueue(postgres)
    items = {queue.enqueue("reconcile", key=f"acme/env-{n}") for n in range(120)}
    claimed: dict[str, list[int]] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def work(name: str) -> None:
        start.wait()
        while batch := queue.claim(worker=name, limit=3):
            claimed[name].extend(item.id for item in batch)

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    both = claimed["w1"] + claimed["w2"]
    print(f"claims: w1 {len(claimed['w1'])}, w2 {len(claimed['w2'])}, overlap "
          f"{len(set(claimed['w1']) & set(claimed['w2']))}")  # fmt: skip
    assert sorted(both) == sorted(items)
    assert claimed["w1"]
    assert claimed["w2"]


def test_threads_appending_to_one_chain_on_either_database_never_fork_it(
    database: Database, key: SigningKey
) -> None:
    log = AuditLog(database, key=key)
    start = threading.Barrier(3)

    def append(worker: int) -> None:
        start.wait()
        for n in range(10):
            log.append_batch("acme", [AuditRecord(f"w{worker}", "change.applied", f"vm-{n}")] * 2)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    [report] = verify_chains(database, public_key=key.public, tenant="acme")
    assert report.ok, report.problem
    assert report.entries == report.last_seq == 60
