"""The webhook receiver's statements: store new events once, count repeats, record rejections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from data.models import Payment, WebhookEvent, WebhookRejection
from data.rollups import add_webhook_events
from data.upsert import table_of

__all__ = [
    "Unwritten",
    "classify_unwritten",
    "count_repeats",
    "database_reachable",
    "insert_new_events",
    "insert_rejections",
    "recent_payment_hours",
    "record_conflicts",
]

_EVENTS = table_of(WebhookEvent)
_PAYMENTS = table_of(Payment)


def insert_rejections(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(table_of(WebhookRejection).insert(), list(rows))


def insert_new_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the events not seen before; returns the ids actually inserted (the rest are repeats).
    The inserted ones are counted into the webhook lag rollup in the same transaction.

    ON CONFLICT DO NOTHING … RETURNING makes "new or repeat?" one atomic question even with several
    receiver processes on one PostgreSQL database. No conflict target: a known event id and a known
    body (the unique body_sha256) both make a row a repeat; `classify_unwritten` tells which.
    """
    if not rows:
        return set()
    insert = postgresql.insert(_EVENTS) if conn.dialect.name == "postgresql" else sqlite.insert(_EVENTS)
    statement = insert.on_conflict_do_nothing().returning(_EVENTS.c.event_id)
    inserted = set(conn.execute(statement, list(rows)).scalars().all())
    add_webhook_events(
        conn,
        (
            (row["created_at"], row["event_type"], row["lag_ms"], 1, row.get("delivery_count", 1))
            for row in rows
            if row["event_id"] in inserted
        ),
    )
    return inserted


@dataclass(frozen=True, slots=True)
class Unwritten:
    """What a delivery that was not inserted is: a repeat of `event_id`, or a conflict with it."""

    event_id: str  # the stored event it repeats or conflicts with
    conflict: bool  # same event id, different body


def classify_unwritten(conn: Connection, deliveries: Sequence[tuple[str, str | None]]) -> list[Unwritten]:
    """For each (event id, body sha256) that was not inserted: the stored event it belongs to.

    Same id, same body (or a row from before bodies were hashed): a repeat. Same id, another body: a
    conflict. Another id, a known body: a repeat of the event stored with that body.
    """
    if not deliveries:
        return []
    ids = sorted({event_id for event_id, _ in deliveries})
    shas = sorted({sha for _, sha in deliveries if sha})
    column = _EVENTS.c
    by_id: dict[str, str | None] = {
        row[0]: row[1]
        for row in conn.execute(select(column.event_id, column.body_sha256).where(column.event_id.in_(ids)))
    }
    by_sha: dict[str, str] = {}
    if shas:
        found = conn.execute(select(column.body_sha256, column.event_id).where(column.body_sha256.in_(shas)))
        by_sha = {row[0]: row[1] for row in found if row[0] is not None}
    classified: list[Unwritten] = []
    for event_id, sha in deliveries:
        if event_id in by_id:
            stored_sha = by_id[event_id]
            classified.append(Unwritten(event_id, conflict=bool(sha and stored_sha and stored_sha != sha)))
        elif sha and sha in by_sha:
            classified.append(Unwritten(by_sha[sha], conflict=False))
        else:  # pragma: no cover - not inserted means one of the two keys is stored
            raise RuntimeError(f"event {event_id} was neither inserted nor found")
    return classified


def record_conflicts(conn: Connection, conflicts: Mapping[str, tuple[int, datetime, str, Any]]) -> None:
    """Count conflicting bodies per event id (how many, the last one's time, its sha256 and payload)."""
    if not conflicts:
        return
    column = _EVENTS.c
    statement = (
        update(_EVENTS)
        .where(column.event_id == bindparam("b_event_id"))
        .values(
            conflict_count=column.conflict_count + bindparam("b_count"),
            last_conflict_at=bindparam("b_at", type_=column.last_conflict_at.type),
            conflict_sha256=bindparam("b_sha"),
            conflict_payload=bindparam("b_payload", type_=column.conflict_payload.type),
        )
    )
    conn.execute(
        statement,
        [
            {"b_event_id": event_id, "b_count": count, "b_at": at, "b_sha": sha, "b_payload": payload}
            for event_id, (count, at, sha, payload) in sorted(conflicts.items())
        ],
    )


def count_repeats(conn: Connection, repeats: Mapping[str, tuple[int, datetime]]) -> None:
    """Add each event's repeat deliveries (event id → (how many, the last one's time)), to the event
    and to the webhook lag rollup."""
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
    repeated = conn.execute(
        select(column.event_id, column.created_at, column.event_type, column.lag_ms).where(
            column.event_id.in_(sorted(repeats))
        )
    )
    add_webhook_events(
        conn,
        (
            (created_at, event_type, lag_ms, 0, repeats[event_id][0])
            for event_id, created_at, event_type, lag_ms in repeated
        ),
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
