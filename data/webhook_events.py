"""The webhook receiver's statements: store new events once, count repeats, record rejections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from data.models import Payment, WebhookEvent, WebhookRejection
from data.upsert import table_of

__all__ = [
    "count_repeats",
    "database_reachable",
    "insert_new_events",
    "insert_rejections",
    "recent_payment_hours",
]

_EVENTS = table_of(WebhookEvent)
_PAYMENTS = table_of(Payment)


def insert_rejections(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(table_of(WebhookRejection).insert(), list(rows))


def insert_new_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the events not seen before; returns the ids actually inserted (the rest are repeats).

    ON CONFLICT DO NOTHING … RETURNING makes "new or repeat?" one atomic question even with several
    receiver processes on one PostgreSQL database.
    """
    if not rows:
        return set()
    insert = postgresql.insert(_EVENTS) if conn.dialect.name == "postgresql" else sqlite.insert(_EVENTS)
    statement = insert.on_conflict_do_nothing(index_elements=["event_id"]).returning(_EVENTS.c.event_id)
    return set(conn.execute(statement, list(rows)).scalars().all())


def count_repeats(conn: Connection, repeats: Mapping[str, tuple[int, datetime]]) -> None:
    """Add each event's repeat deliveries (event id → (how many, the last one's time))."""
    if not repeats:
        return
    column = _EVENTS.c
    statement = (
        update(_EVENTS)
        .where(column.event_id == bindparam("b_event_id"))
        .values(
            delivery_count=column.delivery_count + bindparam("b_count"),
            last_received_at=bindparam("b_at", type_=column.last_received_at.type),
        )
    )
    conn.execute(
        statement,
        [
            {"b_event_id": event_id, "b_count": count, "b_at": at}
            for event_id, (count, at) in sorted(repeats.items())
        ],
    )


def recent_payment_hours(conn: Connection, window: timedelta = timedelta(minutes=1)) -> set[datetime]:
    """UTC hour starts of the payments named by events received in the last `window` before the newest."""
    newest = conn.execute(select(func.max(_EVENTS.c.received_at))).scalar()
    if newest is None:
        return set()
    created = conn.execute(
        select(_PAYMENTS.c.created_at)
        .join(_EVENTS, _EVENTS.c.payment_id == _PAYMENTS.c.id)
        .where(_EVENTS.c.received_at >= newest - window)
    ).scalars()
    return {at.replace(minute=0, second=0, microsecond=0) for at in created}


def database_reachable(engine: Engine) -> bool:
    """The database answers and holds the receiver's table (so a missing migration shows too)."""
    try:
        with engine.connect() as conn:
            conn.execute(select(_EVENTS.c.event_id).limit(1))
    except SQLAlchemyError:
        return False
    return True
