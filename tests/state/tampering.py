"""Ways to tamper with stored audit entries, as someone with write access to the database would.

Each runs inside a transaction the caller rolls back, so one chain serves many attempts. On
PostgreSQL the append-only triggers are bypassed the way a superuser could bypass them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from state.chain import EntryFields, entry_hash
from state.checkpoints import Checkpoint
from state.database import Database
from state.models import AuditCheckpoint, AuditEntry, AuditHead
from state.verifying import ChainReport, verify_chain

ENTRIES = AuditEntry.__table__
TEXT_COLUMNS = (
    "tenant",
    "actor",
    "action",
    "object",
    "commit",
    "plan_id",
    "details",
    "prev_hash",
    "hash",
)
ALL_COLUMNS = ("seq", "at", *TEXT_COLUMNS)


@contextmanager
def tampering(database: Database) -> Iterator[Connection]:
    """A connection in a transaction that is always rolled back; triggers off on PostgreSQL."""
    with database.engine.connect() as connection:
        transaction = connection.begin()
        if database.is_postgresql:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        try:
            yield connection
        finally:
            transaction.rollback()


def verify_in(
    connection: Connection, tenant: str, *, key: Any, exported: tuple[Checkpoint, ...] = ()
) -> ChainReport:
    """Verify ``tenant``'s chain as the tampering transaction sees it."""
    with Session(bind=connection) as session:
        return verify_chain(session, tenant, public_key=key.public, exported=exported)


def row(connection: Connection, tenant: str, seq: int) -> dict[str, Any]:
    query = select(ENTRIES).where(ENTRIES.c.tenant == tenant, ENTRIES.c.seq == seq)
    return dict(connection.execute(query).one()._mapping)


def last_seq(connection: Connection, tenant: str) -> int:
    query = select(func.max(ENTRIES.c.seq)).where(ENTRIES.c.tenant == tenant)
    return int(connection.execute(query).scalar_one())


def _where(tenant: str, seq: int) -> Any:
    return (ENTRIES.c.tenant == tenant) & (ENTRIES.c.seq == seq)


def _flip_char(text: str, position: int) -> str:
    index = position % len(text)
    for bit in (1, 2, 4, 8):
        changed = chr(ord(text[index]) ^ bit)
        if changed != "\x00" and not "\ud800" <= changed <= "\udfff":
            return text[:index] + changed + text[index + 1 :]
    raise AssertionError("no flip found")  # unreachable: one of four bits always works


def flip(connection: Connection, tenant: str, seq: int, *, column: str, position: int) -> bool:
    """Flip one bit of one character (or number) of one column; ``False`` if it is empty."""
    value = row(connection, tenant, seq)[column]
    changed: Any
    if column == "seq":
        # The lowest bit that moves the entry past the chain's end, so no key collides.
        changed = seq ^ (1 << last_seq(connection, tenant).bit_length())
    elif column == "at":
        changed = value.replace(microsecond=value.microsecond ^ 1)
    elif not value:
        return False
    else:
        changed = _flip_char(value, position)
    connection.execute(update(ENTRIES).where(_where(tenant, seq)).values({column: changed}))
    return True


def edit(connection: Connection, tenant: str, seq: int) -> None:
    """Change what an entry says (its actor)."""
    connection.execute(update(ENTRIES).where(_where(tenant, seq)).values(actor="mallory"))


def remove(connection: Connection, tenant: str, seq: int) -> None:
    connection.execute(delete(ENTRIES).where(_where(tenant, seq)))


def swap(connection: Connection, tenant: str, first: int, second: int) -> None:
    """Exchange the sequence numbers of two entries (a reorder)."""
    parking = last_seq(connection, tenant) + 1000
    for old, new in ((first, parking), (second, first), (parking, second)):
        connection.execute(update(ENTRIES).where(_where(tenant, old)).values(seq=new))


def insert_forged(connection: Connection, tenant: str, seq: int) -> None:
    """Insert a well-formed entry at ``seq``, shifting the later ones up by one."""
    later = (ENTRIES.c.tenant == tenant) & (ENTRIES.c.seq >= seq)
    # Through negative numbers, so no row ever collides with its neighbour's key on the way.
    connection.execute(update(ENTRIES).where(later).values(seq=-(ENTRIES.c.seq + 1)))
    negative = (ENTRIES.c.tenant == tenant) & (ENTRIES.c.seq < 0)
    connection.execute(update(ENTRIES).where(negative).values(seq=-ENTRIES.c.seq))
    prev = row(connection, tenant, seq - 1)["hash"] if seq > 1 else "0" * 64
    forged = EntryFields(
        tenant, seq, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "mallory", "x", "y", "", "", "{}"
    )
    values = {**_fields_row(forged), "prev_hash": prev, "hash": entry_hash(prev, forged)}
    connection.execute(insert(ENTRIES).values(values))


def truncate(connection: Connection, tenant: str, seq: int) -> None:
    """Delete ``seq`` and everything after it."""
    connection.execute(delete(ENTRIES).where(ENTRIES.c.tenant == tenant, ENTRIES.c.seq >= seq))


def rewrite_tail(connection: Connection, tenant: str, seq: int) -> None:
    """Edit entry ``seq``, recompute every hash after it, and move the head to match.

    Stored checkpoints past ``seq`` are deleted too, as an attacker would: the database alone
    then holds a consistent chain.
    """
    prev = row(connection, tenant, seq - 1)["hash"] if seq > 1 else "0" * 64
    query = select(ENTRIES).where(ENTRIES.c.tenant == tenant, ENTRIES.c.seq >= seq)
    rewritten: list[dict[str, Any]] = []
    for stored in connection.execute(query.order_by(ENTRIES.c.seq)):
        values = dict(stored._mapping)
        if values["seq"] == seq:
            values["actor"] = "mallory"
        fields = EntryFields(**{name: values[name] for name in _FIELD_NAMES})
        values["prev_hash"], values["hash"] = prev, entry_hash(prev, fields)
        prev = values["hash"]
        rewritten.append({"key_seq": values["seq"], **values})
    statement = (
        update(ENTRIES)
        .where(ENTRIES.c.tenant == tenant, ENTRIES.c.seq == bindparam("key_seq"))
        .values(actor=bindparam("actor"), prev_hash=bindparam("prev_hash"), hash=bindparam("hash"))
    )
    connection.execute(statement, rewritten)
    connection.execute(
        update(AuditHead)
        .where(AuditHead.tenant == tenant)
        .values(seq=rewritten[-1]["seq"], hash=prev)
    )
    connection.execute(
        delete(AuditCheckpoint).where(AuditCheckpoint.tenant == tenant, AuditCheckpoint.seq >= seq)
    )


_FIELD_NAMES = ("tenant", "seq", "at", "actor", "action", "object", "commit", "plan_id", "details")


def _fields_row(fields: EntryFields) -> dict[str, Any]:
    return {name: getattr(fields, name) for name in _FIELD_NAMES}
