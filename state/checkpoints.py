"""Signed checkpoints of the audit chains: the Ed25519 key, signing, checking, exporting.

``state.audit`` writes a checkpoint every N entries or T seconds; ``state.verifying`` checks the
stored and the exported ones; ``rxt audit checkpoint export`` writes them to a file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError
from core.hashing import canonical_json
from state.models import AuditCheckpoint

EXPORT_FORMAT = "rxt-audit-checkpoints/1"


@dataclass(frozen=True)
class CheckpointPolicy:
    """Write a checkpoint once this many entries or this many seconds have passed."""

    every_entries: int = 1000
    every_seconds: float = 300.0


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: tenant ``tenant``'s chain ended in ``hash`` at ``seq``."""

    tenant: str
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def statement(self) -> bytes:
        """The bytes that are signed: the canonical JSON of every field but the signature."""
        return _statement(self.tenant, self.seq, self.hash, self.at, self.key_id)


def _statement(tenant: str, seq: int, chain_hash: str, at: str, key_id: str) -> bytes:
    body = {"tenant": tenant, "seq": seq, "hash": chain_hash, "at": at, "key_id": key_id}
    return canonical_json(body)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """The engine's Ed25519 key: signs checkpoints and keys the digests of secret values."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, *, tenant: str, seq: int, chain_hash: str, at: dt.datetime) -> Checkpoint:
        """A checkpoint of ``tenant``'s chain at ``seq``."""
        stamp = at.astimezone(dt.UTC).isoformat(timespec="microseconds")
        statement = _statement(tenant, seq, chain_hash, stamp, self.key_id)
        signature = base64.b64encode(self.private.sign(statement)).decode("ascii")
        return Checkpoint(tenant, seq, chain_hash, stamp, self.key_id, signature)

    def secret_digest_key(self) -> bytes:
        """A key for HMAC digests of secret values, derived so it is not the signing key."""
        raw = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hashlib.sha256(b"rxt audit secret digests\x00" + raw).digest()


def signature_is_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True when ``checkpoint`` was signed by the key behind ``public_key``."""
    if checkpoint.key_id != key_id_of(public_key):
        return False
    try:
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint.statement())
    except (InvalidSignature, ValueError):
        return False
    return True


def load_or_create_key(path: Path) -> SigningKey:
    """Read the PEM key at ``path``, or make one there (mode 0600) on first start."""
    if path.exists():
        return _load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    pem = key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def _load_key(path: Path) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"audit signing key {path} cannot be read: {error}",
            hint="give an unencrypted PKCS#8 PEM Ed25519 key, or remove the file to make one",
        ) from error
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(
            f"audit signing key {path} is not an Ed25519 key",
            hint="checkpoints are signed with Ed25519; give such a key",
        )
    return SigningKey(private)


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM text, written beside exported checkpoints."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def from_row(row: AuditCheckpoint) -> Checkpoint:
    """The stored checkpoint as a value."""
    stamp = row.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return Checkpoint(row.tenant, row.seq, row.hash, stamp, row.key_id, row.signature)


def to_row(checkpoint: Checkpoint) -> AuditCheckpoint:
    """The row that stores ``checkpoint``."""
    return AuditCheckpoint(
        tenant=checkpoint.tenant,
        seq=checkpoint.seq,
        hash=checkpoint.hash,
        at=dt.datetime.fromisoformat(checkpoint.at),
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
    )


def stored_checkpoints(session: Session, *, tenant: str | None = None) -> list[Checkpoint]:
    """The checkpoints in the database, oldest first, for one tenant or all."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.tenant, AuditCheckpoint.seq)
    if tenant is not None:
        query = query.where(AuditCheckpoint.tenant == tenant)
    return [from_row(row) for row in session.scalars(query)]


def export_checkpoints(
    path: Path, checkpoints: Iterable[Checkpoint], *, public_key: Ed25519PublicKey
) -> int:
    """Write ``checkpoints`` and the public key to ``path`` as JSON; returns how many."""
    items = [asdict(checkpoint) for checkpoint in checkpoints]
    document = {
        "format": EXPORT_FORMAT,
        "key_id": key_id_of(public_key),
        "public_key": public_key_pem(public_key),
        "checkpoints": items,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return len(items)


def read_exported(path: Path) -> list[Checkpoint]:
    """The checkpoints in an exported file; raises ``ConfigError`` on any other shape."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != EXPORT_FORMAT:
            raise ValueError(f"format is {document.get('format')!r}, not {EXPORT_FORMAT!r}")
        return [Checkpoint(**item) for item in document["checkpoints"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise ConfigError(
            f"checkpoint file {path} cannot be read: {error}",
            hint="give a file written by `rxt audit checkpoint export`",
        ) from error
