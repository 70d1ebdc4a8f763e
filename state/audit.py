"""Append to a tenant's audit chain, one entry or a batch per transaction, and read it back.

The reconciler appends what it planned, decided and applied; ``rxt audit log`` reads. Appends
to one chain are serialised (an advisory lock on PostgreSQL, the write transaction on SQLite)
so the chain never forks. Secret values never enter an entry: only keyed digests of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from core.logs import redact, redact_text
from state.chain import GENESIS, EntryFields, canonical_details, entry_hash
from state.checkpoints import CheckpointPolicy, SigningKey, to_row
from state.database import Clock, Database, utc_now
from state.models import AuditCheckpoint, AuditEntry, AuditHead

# Control characters in the short fields would make log lines lie and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LIMITS = {
    name: getattr(AuditEntry, name).type.length
    for name in ("tenant", "actor", "action", "object", "commit", "plan_id")
}


@dataclass(frozen=True)
class AuditRecord:
    """What a caller wants recorded; the store adds tenant, sequence, time and hashes.

    ``secrets`` names secret values that the entry must vouch for (a password that was set);
    only their HMAC digests are stored, under ``details["secret_digests"]``.
    """

    actor: str
    action: str
    object: str
    commit: str = ""
    plan_id: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEntry:
    """One entry as stored; ``details`` is the canonical JSON text that was hashed."""

    fields: EntryFields
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: AuditEntry) -> StoredEntry:
        fields = EntryFields(
            tenant=row.tenant,
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            object=row.object,
            commit=row.commit,
            plan_id=row.plan_id,
            details=row.details,
        )
        return cls(fields, row.prev_hash, row.hash)


@dataclass(frozen=True)
class LogFilter:
    """Which entries ``AuditLog.entries`` returns; empty fields match everything."""

    tenant: str = ""
    object: str = ""
    actor: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100


class AuditLog:
    """The audit chains of one database, with the key that signs their checkpoints."""

    def __init__(
        self,
        database: Database,
        *,
        key: SigningKey,
        policy: CheckpointPolicy | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.key = key
        self.policy = policy or CheckpointPolicy()
        self.clock = clock
        self._digest_key = key.secret_digest_key()

    def append(self, tenant: str, record: AuditRecord) -> StoredEntry:
        """Append one entry to ``tenant``'s chain in its own transaction."""
        return self.append_batch(tenant, [record])[0]

    def append_batch(self, tenant: str, records: Sequence[AuditRecord]) -> list[StoredEntry]:
        """Append ``records`` in order and commit them together (group commit)."""
        with self.database.write() as session:
            return self.append_in(session, tenant, records)

    def append_in(
        self, session: Session, tenant: str, records: Sequence[AuditRecord]
    ) -> list[StoredEntry]:
        """Append within the caller's write transaction, so entries commit with its changes."""
        _check_short("tenant", tenant)
        prepared = [self._prepare(record) for record in records]
        self._lock_chain(session, tenant)
        head = session.get(AuditHead, tenant, populate_existing=True)  # read after the lock
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        now = self.clock().astimezone(dt.UTC)
        entries: list[StoredEntry] = []
        for record, details in prepared:
            seq += 1
            fields = _fields(tenant, seq, now, record, details)
            digest = entry_hash(prev, fields)
            entries.append(StoredEntry(fields, prev, digest))
            prev = digest
        if not entries:
            return entries
        session.execute(insert(AuditEntry), [_row(entry) for entry in entries])
        self._move_head(session, head, tenant=tenant, last=entries[-1], now=now)
        self._maybe_checkpoint(session, tenant=tenant, last=entries[-1], now=now)
        return entries

    def secret_digest(self, value: str) -> str:
        """A keyed digest of a secret value: equal values match, the value cannot be guessed."""
        mac = hmac.new(self._digest_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{mac}"

    def entries(self, query: LogFilter) -> list[StoredEntry]:
        """Entries matching ``query``, newest first."""
        statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.seq.desc())
        if query.tenant:
            statement = statement.where(AuditEntry.tenant == query.tenant)
        if query.object:
            statement = statement.where(AuditEntry.object.contains(query.object, autoescape=True))
        if query.actor:
            statement = statement.where(AuditEntry.actor == query.actor)
        if query.since is not None:
            statement = statement.where(AuditEntry.at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditEntry.at < query.until)
        with self.database.read() as session:
            rows = session.scalars(statement.limit(query.limit))
            return [StoredEntry.from_row(row) for row in rows]

    def _prepare(self, record: AuditRecord) -> tuple[AuditRecord, str]:
        for name in ("actor", "action", "object", "commit", "plan_id"):
            _check_short(name, getattr(record, name))
        details: dict[str, Any] = _scrub(dict(record.details))
        if record.secrets:
            details["secret_digests"] = {
                _scrub_key(name): self.secret_digest(value)
                for name, value in sorted(record.secrets.items())
            }
        text_form = canonical_details(details)
        text_form.encode("utf-8")  # lone surrogates cannot be stored or hashed
        scrubbed = AuditRecord(
            actor=redact_text(record.actor),
            action=redact_text(record.action),
            object=redact_text(record.object),
            commit=redact_text(record.commit),
            plan_id=redact_text(record.plan_id),
        )
        return scrubbed, text_form

    def _lock_chain(self, session: Session, tenant: str) -> None:
        # On SQLite the write transaction began IMMEDIATE and already excludes other writers.
        if self.database.is_postgresql:
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"rxt.audit:{tenant}"},
            )

    def _move_head(
        self,
        session: Session,
        head: AuditHead | None,
        *,
        tenant: str,
        last: StoredEntry,
        now: dt.datetime,
    ) -> None:
        if head is None:
            session.add(
                AuditHead(tenant=tenant, seq=last.fields.seq, hash=last.hash, updated_at=now)
            )
            return
        head.seq, head.hash, head.updated_at = last.fields.seq, last.hash, now

    def _maybe_checkpoint(
        self, session: Session, *, tenant: str, last: StoredEntry, now: dt.datetime
    ) -> None:
        latest = session.execute(
            select(func.max(AuditCheckpoint.seq), func.max(AuditCheckpoint.at)).where(
                AuditCheckpoint.tenant == tenant
            )
        ).one()
        since_seq: int = latest[0] or 0
        since_at: dt.datetime | None = latest[1]
        due_by_count = last.fields.seq - since_seq >= self.policy.every_entries
        due_by_time = (
            since_at is None or (now - since_at).total_seconds() >= self.policy.every_seconds
        )
        if due_by_count or due_by_time:
            checkpoint = self.key.sign(
                tenant=tenant, seq=last.fields.seq, chain_hash=last.hash, at=now
            )
            session.add(to_row(checkpoint))

    def iter_chain(self, session: Session, tenant: str) -> Iterator[StoredEntry]:
        """Every entry of ``tenant``'s chain in order, streamed."""
        statement = (
            select(AuditEntry)
            .where(AuditEntry.tenant == tenant)
            .order_by(AuditEntry.seq)
            .execution_options(yield_per=1000)
        )
        for row in session.scalars(statement):
            yield StoredEntry.from_row(row)


def _fields(
    tenant: str, seq: int, now: dt.datetime, record: AuditRecord, details: str
) -> EntryFields:
    return EntryFields(
        tenant=tenant,
        seq=seq,
        at=now,
        actor=record.actor,
        action=record.action,
        object=record.object,
        commit=record.commit,
        plan_id=record.plan_id,
        details=details,
    )


def _row(entry: StoredEntry) -> dict[str, Any]:
    fields = entry.fields
    return {
        "tenant": fields.tenant,
        "seq": fields.seq,
        "at": fields.at,
        "actor": fields.actor,
        "action": fields.action,
        "object": fields.object,
        "commit": fields.commit,
        "plan_id": fields.plan_id,
        "details": fields.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _check_short(name: str, value: str) -> None:
    if _CONTROL.search(value):
        raise ValueError(f"audit field {name} {value!r} holds a control character")
    # SQLite would store a longer value and PostgreSQL refuse it; refuse it on both.
    limit = _LIMITS[name]
    if len(value) > limit:
        raise ValueError(f"audit field {name} is {len(value)} characters long; at most {limit}")


def _scrub(value: Any) -> Any:
    """Redact secret-looking keys and known secret values, in keys as well as values."""
    return _scrub_keys(redact(value))


def _scrub_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_scrub_key(str(key)): _scrub_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_keys(item) for item in value]
    return value


def _scrub_key(key: str) -> str:
    return redact_text(key)
