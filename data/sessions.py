"""Dashboard sessions and the sign-in throttle's counts: the SQL behind dashboard/session.py and auth.py.

A session row is shared by every dashboard replica (the cookie only names its id), and the throttle
counts failures in audit_log, so both hold however many dashboard processes there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, func, select, update

from data.models import AuditLog, DashboardSession

__all__ = [
    "SIGN_IN_FAILED",
    "SessionRow",
    "activate_session",
    "create_session",
    "end_session",
    "sign_in_failures",
    "valid_session",
]

SIGN_IN_FAILED = "sign_in_failed"
ADDRESS_PREFIX = "address:"  # audit_log.target of a sign-in failure: the client address it came from
_SESSIONS: Table = DashboardSession.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditLog.__table__  # type: ignore[assignment]
# A session's last_seen_at is written at most this often (not on every rerun of every widget click).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionRow:
    id: str
    user_name: str
    role: str
    method: str
    created_at: datetime
    last_seen_at: datetime


def create_session(
    db: Engine, *, session_id: str, user_name: str, role: str, method: str, now: datetime
) -> None:
    with db.begin() as conn:
        conn.execute(
            _SESSIONS.insert().values(
                id=session_id,
                user_name=user_name,
                role=role,
                method=method,
                created_at=now,
                last_seen_at=now,
            )
        )


def activate_session(db: Engine, session_id: str, *, now: datetime, lifetime: timedelta) -> bool:
    """Mark the sign-in grant of a session used; False if it was used already, ended or expired."""
    table = _SESSIONS
    with db.begin() as conn:
        result = conn.execute(
            update(table)
            .where(
                table.c.id == session_id,
                table.c.activated_at.is_(None),
                table.c.ended_at.is_(None),
                table.c.created_at > now - lifetime,
            )
            .values(activated_at=now, last_seen_at=now)
        )
    return result.rowcount == 1


def valid_session(
    db: Engine, session_id: str, *, now: datetime, idle: timedelta, lifetime: timedelta
) -> SessionRow | None:
    """The session when it is neither ended, idle for longer than `idle`, nor older than `lifetime`;
    its last_seen_at moves to `now` (at most every TOUCH_EVERY). An expired one is ended here."""
    table = _SESSIONS
    with db.begin() as conn:
        row = conn.execute(select(table).where(table.c.id == session_id)).mappings().first()
        if row is None or row["ended_at"] is not None:
            return None
        if row["last_seen_at"] <= now - idle or row["created_at"] <= now - lifetime:
            conn.execute(update(table).where(table.c.id == session_id).values(ended_at=now))
            return None
        last_seen = row["last_seen_at"]
        if now - last_seen >= min(TOUCH_EVERY, idle / 4):
            conn.execute(update(table).where(table.c.id == session_id).values(last_seen_at=now))
            last_seen = now
    return SessionRow(
        id=row["id"],
        user_name=row["user_name"],
        role=row["role"],
        method=row["method"],
        created_at=row["created_at"],
        last_seen_at=last_seen,
    )


def end_session(db: Engine, session_id: str, *, now: datetime) -> None:
    table = _SESSIONS
    with db.begin() as conn:
        conn.execute(
            update(table).where(table.c.id == session_id, table.c.ended_at.is_(None)).values(ended_at=now)
        )


@dataclass(frozen=True)
class FailureCounts:
    by_name: int
    by_address: int
    # When the oldest failure in the window leaves it (the lock lifts then, if no new failures come).
    name_window_start: datetime | None
    address_window_start: datetime | None


def sign_in_failures(
    db: Engine, *, name: str, address: str | None, since: datetime, until: datetime
) -> FailureCounts:
    """Failed sign-ins for `name` and from `address` in (since, until], from the audit log."""
    table = _AUDIT
    in_window = (table.c.action == SIGN_IN_FAILED, table.c.at > since, table.c.at <= until)
    with db.connect() as conn:
        by_name = conn.execute(
            select(func.count(), func.min(table.c.at)).where(*in_window, table.c.actor == name[:128])
        ).one()
        by_address = (
            conn.execute(
                select(func.count(), func.min(table.c.at)).where(
                    *in_window, table.c.target == f"{ADDRESS_PREFIX}{address}"[:200]
                )
            ).one()
            if address
            else (0, None)
        )
    return FailureCounts(
        by_name=int(by_name[0]),
        by_address=int(by_address[0]),
        name_window_start=by_name[1],
        address_window_start=by_address[1],
    )
