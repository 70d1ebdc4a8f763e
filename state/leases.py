"""Leases per environment with fencing tokens that only grow, and the fence every write checks.

The reconciler acquires a lease before applying to an environment and renews it while it works;
``state.runs`` calls ``check_fence`` inside each write so a stale holder's write is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import LeaseLost
from core.logs import get_logger
from state.database import Clock, Database, utc_now
from state.models import Lease as LeaseRow


@dataclass(frozen=True)
class Lease:
    """A grant to ``holder`` to write for ``name`` until ``expires_at``, under ``token``."""

    name: str
    holder: str
    token: int
    expires_at: dt.datetime


def environment_lease_name(tenant: str, environment: str) -> str:
    """The lease name of one environment."""
    return f"env:{tenant}/{environment}"


class Leases:
    """Acquire, renew and release leases; the clock is injected so tests never sleep."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    def acquire(self, name: str, *, holder: str, ttl: dt.timedelta) -> Lease | None:
        """Take the lease when it is free or expired; ``None`` while someone else holds it.

        A holder that acquires again while it still holds the lease keeps its token; any
        other grant gets a token one higher than every token before it.
        """
        now = self.clock()
        with self.database.write() as session:
            row = _locked(session, name)
            if row is None:
                row = LeaseRow(name=name, holder=holder, token=1, acquired_at=now, expires_at=now)
                session.add(row)
            elif row.holder != holder and row.holder is not None and row.expires_at > now:
                return None
            elif row.holder != holder or row.expires_at <= now:
                row.token += 1
                row.holder, row.acquired_at = holder, now
            row.expires_at = now + ttl
            lease = Lease(name, holder, row.token, row.expires_at)
        get_logger().info("lease.acquired", lease=name, holder=holder, token=lease.token)
        return lease

    def renew(self, lease: Lease, *, ttl: dt.timedelta) -> Lease:
        """Extend ``lease``; raises ``LeaseLost`` when it expired or another holder took it."""
        now = self.clock()
        with self.database.write() as session:
            row = check_fence(session, lease, now=now)
            row.expires_at = now + ttl
            return Lease(lease.name, lease.holder, lease.token, row.expires_at)

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up early; the row (and its token) stays so tokens keep growing."""
        now = self.clock()
        with self.database.write() as session:
            row = _locked(session, lease.name)
            if row is not None and row.token == lease.token and row.holder == lease.holder:
                row.holder, row.expires_at = None, now

    def current(self, name: str) -> Lease | None:
        """Who holds ``name`` now, if anyone."""
        with self.database.read() as session:
            row = session.get(LeaseRow, name)
            if row is None or row.holder is None or row.expires_at <= self.clock():
                return None
            return Lease(row.name, row.holder, row.token, row.expires_at)


def _locked(session: Session, name: str) -> LeaseRow | None:
    # FOR UPDATE keeps a takeover from slipping between our check and our write (PostgreSQL);
    # SQLite's IMMEDIATE write transaction already excludes every other writer.
    query = select(LeaseRow).where(LeaseRow.name == name).with_for_update()
    return session.scalars(query).one_or_none()


def check_fence(session: Session, lease: Lease, *, now: dt.datetime) -> LeaseRow:
    """Refuse the write of this transaction unless ``lease`` is still the current grant.

    Call it inside the write transaction, before writing: the lease row stays locked until
    commit, so no takeover can happen between the check and the write.

    Raises:
        LeaseLost: the token is stale (someone else holds a newer grant) or the lease expired.
    """
    row = _locked(session, lease.name)
    if row is None or row.token != lease.token or row.holder != lease.holder:
        current = row.token if row is not None else 0
        get_logger().warning("lease.lost", lease=lease.name, holder=lease.holder, token=lease.token)
        raise LeaseLost(
            f"lease {lease.name!r}: fencing token {lease.token} of {lease.holder!r} is stale "
            f"(the current token is {current}); the write was refused",
            hint="another engine took over this environment; stop and let it finish",
        )
    if row.expires_at <= now:
        get_logger().warning(
            "lease.expired", lease=lease.name, holder=lease.holder, token=lease.token
        )
        raise LeaseLost(
            f"lease {lease.name!r} of {lease.holder!r} expired at {row.expires_at.isoformat()}; "
            "the write was refused",
            hint="renew the lease more often than its time to live, or give it a longer one",
        )
    return row
