"""At most one sync run per entity at a time, across processes and hosts: a lease row per entity in
the database, renewed by a heartbeat, checked inside every window's transaction (a fence), released at
the end. A run whose host died stops renewing; once its lease expires any host takes it over. On the
same host a holder whose process is gone is taken over at once (after SIGKILL the next run need not
wait out the lease).

Why a lease row and not a PostgreSQL advisory lock: an advisory lock lives as long as one connection,
which a host that froze or lost its network keeps open for as long as TCP keepalive allows (hours by
default), and a run cannot tell from its other pooled connections that the lock went away. The lease
expires on its own clock and the fence makes a run that lost it fail its next commit instead of
writing alongside the new holder. The same code then serves SQLite, where the database file's write
lock makes the acquire atomic.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from data.models import SyncLease

__all__ = [
    "DEFAULT_LEASE_TTL",
    "LeaseHeld",
    "LeaseHolder",
    "LeaseLost",
    "Leases",
    "acquire_leases",
    "current_holders",
]

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = timedelta(seconds=60)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds an entity's lease, as the status page and a refused run report it."""

    entity: str
    run_id: int | None
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        run = f"run #{self.run_id}" if self.run_id is not None else "a run starting"
        return (
            f"{self.entity} is being synced by {run} on {self.host} (pid {self.pid}) since "
            f"{self.acquired_at:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {self.heartbeat_at:%H:%M:%S} UTC"
        )


class LeaseHeld(Exception):
    """Another live run holds the lease of an entity this run needs."""

    def __init__(self, holder: LeaseHolder) -> None:
        super().__init__(f"another sync is running: {holder.describe()}")
        self.holder = holder


class LeaseLost(Exception):
    """This run's lease was taken over (its heartbeat stopped for longer than the lease lasts)."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_LEASE = SyncLease.__table__
_HOLDER_COLUMNS = ("entity", "run_id", "host", "pid", "acquired_at", "heartbeat_at", "expires_at")


def _holder(row: Row[Any]) -> LeaseHolder:
    return LeaseHolder(**{name: row._mapping[name] for name in _HOLDER_COLUMNS})


@dataclass
class Leases:
    """The leases one run holds (all its entities, taken together or not at all)."""

    engine: Engine
    entities: tuple[str, ...]
    token: str
    ttl: timedelta
    clock: Clock = _utcnow
    lost: threading.Event = field(default_factory=threading.Event)

    def stamp_run(self, conn: Connection, run_id: int) -> None:
        """Name the run on its leases, in the transaction that records the run."""
        conn.execute(update(SyncLease).where(SyncLease.holder == self.token).values(run_id=run_id))

    def fence(self, conn: Connection, entity: str) -> None:
        """Renew `entity`'s lease inside the caller's transaction, or raise LeaseLost (rolling the
        caller's writes back) when another run has taken it over."""
        now = self.clock()
        renewed = conn.execute(
            update(SyncLease)
            .where(SyncLease.entity == entity, SyncLease.holder == self.token)
            .values(heartbeat_at=now, expires_at=now + self.ttl)
        ).rowcount
        if renewed != 1:
            self.lost.set()
            raise LeaseLost(f"the lease on {entity} was taken over by another run; stopping this one")

    def renew(self) -> bool:
        """One heartbeat for every entity held; False once any of them has been taken over."""
        now = self.clock()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(SyncLease)
                .where(SyncLease.holder == self.token)
                .values(heartbeat_at=now, expires_at=now + self.ttl)
            ).rowcount
        if renewed != len(self.entities):
            self.lost.set()
            return False
        return True

    @contextmanager
    def heartbeat(self, every: timedelta | None = None) -> Iterator[None]:
        """Renew in a background thread (every third of the lease) while the body runs, so a long
        fetch between two commits does not let the lease lapse."""
        interval = (every or self.ttl / 3).total_seconds()
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    if not self.renew():
                        return
                except SQLAlchemyError as error:  # a missed beat is retried; the fence decides
                    log.warning("sync lease heartbeat failed (%s); retrying", type(error).__name__)

        thread = threading.Thread(target=beat, name="sync-lease-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(SyncLease).where(SyncLease.holder == self.token))


def _insert_if_free(conn: Connection, values: dict[str, object]) -> bool:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(SyncLease)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["entity"])
        .returning(SyncLease.entity)
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT SQLAlchemy executes this way.
    return conn.execute(statement).first() is not None


def _try_acquire(
    conn: Connection, entity: str, values: dict[str, object], now: datetime, host: str
) -> LeaseHolder | None:
    """Take `entity`'s lease in the caller's transaction; the current holder when it is live."""
    # The insert comes first: on SQLite it takes the file's write lock before anything is read, so
    # the read below cannot be stale; on PostgreSQL a concurrent insert of the same entity waits here.
    if _insert_if_free(conn, {"entity": entity, **values}):
        return None
    row = conn.execute(select(_LEASE).where(SyncLease.entity == entity)).one()
    current = _holder(row)
    expired = current.expires_at <= now
    died_here = current.host == host and not _pid_alive(current.pid)
    if not (expired or died_here):
        return current
    # Compare-and-swap on the holder we saw: if another run took it over meanwhile, we did not.
    seen_holder = row.holder
    taken = conn.execute(
        update(SyncLease)
        .where(SyncLease.entity == entity, SyncLease.holder == seen_holder)
        .values(**values, run_id=None)
    ).rowcount
    return None if taken == 1 else current


def acquire_leases(
    engine: Engine,
    entities: Sequence[str],
    *,
    ttl: timedelta = DEFAULT_LEASE_TTL,
    clock: Clock = _utcnow,
    host: str | None = None,
    pid: int | None = None,
) -> Leases:
    """Take every entity's lease in one transaction, or none: raises LeaseHeld naming the first live
    holder. Entities are taken in name order, so two runs never wait on each other in a cycle."""
    host = host or socket.gethostname()
    now = clock()
    token = secrets.token_hex(16)
    values: dict[str, object] = {
        "holder": token,
        "host": host[:255],
        "pid": pid if pid is not None else os.getpid(),
        "acquired_at": now,
        "heartbeat_at": now,
        "expires_at": now + ttl,
    }
    ordered = tuple(sorted(set(entities)))
    held: LeaseHolder | None = None
    with engine.connect() as conn, conn.begin() as transaction:
        for entity in ordered:
            held = _try_acquire(conn, entity, values, now, host)
            if held is not None:
                transaction.rollback()
                break
    if held is not None:
        raise LeaseHeld(held)
    return Leases(engine=engine, entities=ordered, token=token, ttl=ttl, clock=clock)


def current_holders(engine: Engine, now: datetime | None = None) -> list[LeaseHolder]:
    """The live leases (not yet expired), for the status page and `sync status`."""
    now = now or _utcnow()
    with engine.connect() as conn:
        rows = conn.execute(select(_LEASE).where(SyncLease.expires_at > now).order_by(SyncLease.entity))
        return [_holder(row) for row in rows]
