"""Verify audit chains by streaming every entry and recomputing its hash, then checking the
head and the signed checkpoints. ``rxt audit verify`` calls ``verify_chains``.

A rewrite of a chain's tail with every hash recomputed (and the head moved to match) is
consistent by construction; only a signed checkpoint kept outside the database reveals it.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Select, String, func, select, type_coerce, union
from sqlalchemy.orm import Session

from state.chain import GENESIS, row_hash
from state.checkpoints import Checkpoint, key_id_of, signature_is_valid, stored_checkpoints
from state.database import Database
from state.models import AuditCheckpoint, AuditEntry, AuditHead

# Rows fetched per round trip from the server-side cursor.
STREAM_BATCH = 20_000


@dataclass(frozen=True)
class ChainBreak:
    """The first sequence number at which a chain is wrong, and why."""

    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    """What verifying one tenant's chain found."""

    tenant: str
    entries: int
    last_seq: int
    last_hash: str
    checkpoints: int
    exported: int
    problem: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Walk:
    """The running state of one streamed verification."""

    tenant: str
    stored: dict[int, Checkpoint]
    exported: dict[int, Checkpoint]
    entries: int = 0
    seq: int = 0
    hash: str = GENESIS
    checkpoints: int = 0
    outside: int = 0


def verify_chains(
    database: Database,
    *,
    public_key: Ed25519PublicKey,
    tenant: str | None = None,
    exported: Sequence[Checkpoint] = (),
) -> list[ChainReport]:
    """Verify one tenant's chain, or every chain the database or the exported file knows."""
    with database.read() as session:
        if database.is_postgresql:
            # One snapshot for the stream, the head and the checkpoints: an append committed
            # half-way through must not look like a chain that ends before its head.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        tenants = [tenant] if tenant else chain_tenants(session, exported=exported)
        return [
            verify_chain(session, name, public_key=public_key, exported=exported)
            for name in tenants
        ]


def chain_tenants(session: Session, *, exported: Iterable[Checkpoint] = ()) -> list[str]:
    """Every tenant with entries, a head or a checkpoint, so a deleted chain is still checked."""
    query = union(
        select(AuditHead.tenant),
        select(AuditCheckpoint.tenant).distinct(),
        select(AuditEntry.tenant).distinct(),
    )
    names = set(session.scalars(query)) | {checkpoint.tenant for checkpoint in exported}
    return sorted(names)


def verify_chain(
    session: Session,
    tenant: str,
    *,
    public_key: Ed25519PublicKey,
    exported: Iterable[Checkpoint] = (),
) -> ChainReport:
    """Stream ``tenant``'s chain within ``session`` and report the first break, if any."""
    stored = stored_checkpoints(session, tenant=tenant)
    outside = [c for c in exported if c.tenant == tenant]
    walk = _Walk(tenant, {c.seq: c for c in stored}, {c.seq: c for c in outside})
    problem = _bad_signature(stored, outside, public_key) or _stream(session, walk)
    if problem is None:
        problem = _check_end(session, walk)
    return ChainReport(
        tenant=tenant,
        entries=walk.entries,
        last_seq=walk.seq,
        last_hash=walk.hash,
        checkpoints=walk.checkpoints,
        exported=walk.outside,
        problem=problem,
    )


def _bad_signature(
    stored: list[Checkpoint], outside: list[Checkpoint], public_key: Ed25519PublicKey
) -> ChainBreak | None:
    ours = key_id_of(public_key)
    for where, checkpoints in (("stored", stored), ("exported", outside)):
        for checkpoint in checkpoints:
            if not signature_is_valid(checkpoint, public_key):
                return ChainBreak(
                    checkpoint.seq,
                    f"the {where} checkpoint at {checkpoint.seq} (key {checkpoint.key_id}) does "
                    f"not carry a valid signature of this engine's key {ours}: it was forged "
                    "or altered, or signed by a key this engine no longer uses",
                )
    return None


def _stream(session: Session, walk: _Walk) -> ChainBreak | None:
    connection = session.connection()
    dialect = connection.dialect
    compiled = _chain_query(dialect.name, walk.tenant).compile(dialect=dialect)
    # The driver's own cursor, under SQLAlchemy's transaction: building a Row per entry would
    # cost as much as hashing it.
    driver: Any = connection.connection.driver_connection
    if dialect.name == "postgresql":
        cursor = driver.cursor(name=f"rxt_audit_verify_{uuid.uuid4().hex[:8]}")
        cursor.itersize = STREAM_BATCH
        cursor.execute(str(compiled), compiled.params)
        rows: Iterable[Any] = chain.from_iterable(_prefetched(_batches(cursor)))
    else:
        cursor = driver.cursor()  # SQLite's cursor steps through the table as it is read
        names = compiled.positiontup or []
        cursor.execute(str(compiled), [compiled.params[name] for name in names])
        rows = cursor
    try:
        return _walk_rows(rows, walk)
    finally:
        cursor.close()  # an early return must still close PostgreSQL's server-side cursor


def _chain_query(dialect: str, tenant: str) -> Select[*tuple[Any, ...]]:
    return (
        select(
            AuditEntry.seq,
            time_text(dialect),
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.object,
            AuditEntry.commit,
            AuditEntry.plan_id,
            AuditEntry.details,
            AuditEntry.prev_hash,
            AuditEntry.hash,
        )
        .where(AuditEntry.tenant == tenant)
        .order_by(AuditEntry.seq)
    )


def _batches(cursor: Any) -> Iterator[Sequence[Any]]:
    while batch := cursor.fetchmany(STREAM_BATCH):
        yield batch


def _prefetched(partitions: Iterator[Sequence[Any]], *, depth: int = 3) -> Iterator[Sequence[Any]]:
    """Yield ``partitions`` while a thread fetches the next ones.

    The database produces and sends the next batch while this thread hashes the current one;
    the fetching thread waits on the socket with the GIL released, so the two overlap.
    """
    batches: queue.Queue[Sequence[Any] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for partition in partitions:
                if stop.is_set():
                    return
                batches.put(partition)
        except BaseException as error:  # handed to the consuming thread, which raises it
            batches.put(error)
            return
        batches.put(None)

    fetcher = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    fetcher.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while fetcher.is_alive():  # unblock a fetcher waiting to put into a full queue
            with suppress(queue.Empty):
                batches.get(timeout=0.05)
        fetcher.join()


def _walk_rows(rows: Iterable[Any], walk: _Walk) -> ChainBreak | None:
    tenant, checkpointed = walk.tenant, walk.stored.keys() | walk.exported.keys()
    start, last, last_hash = walk.seq, walk.seq, walk.hash
    # Locals only, in a tight loop: this runs a million times for a large chain.
    try:
        for seq, at, actor, action, obj, commit, plan_id, details, prev, stored_hash in rows:
            if seq != last + 1:
                return _gap(last + 1, seq)
            if prev != last_hash:
                return ChainBreak(seq, _UNLINKED.format(seq=seq, prev=last))
            if row_hash(prev, tenant, seq, at, actor, action, obj, commit, plan_id, details) != (
                stored_hash
            ):
                return ChainBreak(
                    seq, f"entry {seq}'s content does not match its hash: it was edited"
                )
            last, last_hash = seq, stored_hash
            if seq in checkpointed:
                walk.seq, walk.hash = last, last_hash
                if problem := _against_checkpoints(walk):
                    return problem
    finally:
        walk.entries += last - start
        walk.seq, walk.hash = last, last_hash
    return None


_UNLINKED = (
    "entry {seq} does not link to entry {prev}: its previous hash differs, "
    "so an entry was changed, removed or reordered"
)


def time_text(dialect: str) -> ColumnElement[str]:
    """The entry's time as the text the hash covers, formatted by the database itself.

    Cheaper than building a datetime per row in Python, and on PostgreSQL the work happens in
    the server process, beside ours.
    """
    if dialect == "postgresql":
        utc = func.timezone("UTC", AuditEntry.at)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"', type_=String)
    # SQLite keeps the UTC time as text, "YYYY-MM-DD HH:MM:SS.ffffff".
    stored = type_coerce(AuditEntry.at, String)
    return func.replace(stored, " ", "T", type_=String).concat("+00:00")


def _gap(expected: int, found: int) -> ChainBreak:
    if found < expected:
        return ChainBreak(found, f"entry {found} appears twice or out of order")
    return ChainBreak(expected, f"entry {expected} is missing (the next stored entry is {found})")


def _against_checkpoints(walk: _Walk) -> ChainBreak | None:
    for where, table in (("stored", walk.stored), ("exported", walk.exported)):
        checkpoint = table.get(walk.seq)
        if checkpoint is None:
            continue
        if checkpoint.hash != walk.hash:
            return ChainBreak(
                walk.seq,
                f"the chain's hash at entry {walk.seq} differs from the {where} checkpoint "
                f"signed at {checkpoint.at}: entries up to {walk.seq} were rewritten",
            )
        if where == "stored":
            walk.checkpoints += 1
        else:
            walk.outside += 1
    return None


def _check_end(session: Session, walk: _Walk) -> ChainBreak | None:
    beyond = [seq for seq in (walk.stored.keys() | walk.exported.keys()) if seq > walk.seq]
    if beyond:
        return ChainBreak(
            walk.seq + 1,
            f"the chain ends at entry {walk.seq} but a signed checkpoint vouches for entry "
            f"{min(beyond)}: entries after {walk.seq} were deleted",
        )
    head = session.get(AuditHead, walk.tenant)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq > walk.seq:
        return ChainBreak(
            walk.seq + 1,
            f"the chain ends at entry {walk.seq} but its head records entry {head_seq}: "
            f"entries after {walk.seq} were deleted",
        )
    if (head_seq, head_hash) != (walk.seq, walk.hash):
        return ChainBreak(
            max(head_seq, 1),
            f"the chain's head (entry {head_seq}) does not match its last entry {walk.seq}",
        )
    return None
