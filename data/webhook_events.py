"""The webhook receiver's statements: store new events once, count repeats, count rejections per
reason, source and minute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Executable, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import UpdateBase

from data.models import Payment, WebhookEvent, WebhookRejection
from data.rollups import add_webhook_events
from data.upsert import execute_rows, insert_values, table_of

__all__ = [
    "LagCounts",
    "Unwritten",
    "classify_unwritten",
    "count_repeats",
    "database_reachable",
    "insert_new_events",
    "recent_payment_hours",
    "record_conflicts",
    "record_rejections",
]

_EVENTS = table_of(WebhookEvent)
_PAYMENTS = table_of(Payment)


_REJECTIONS = table_of(WebhookRejection)
# The columns of a rejection row that only the first delivery of its (minute, reason, source) sets.
_REJECTION_SAMPLE = ("event_id", "event_type", "body_sha256", "body_size", "detail")


def _insert(table: Any, dialect: str) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


# The receiver runs these statements in every batch. Each is built once per dialect: building one and
# computing its cache key cost more than executing it for a few rows (SQLAlchemy memoises the key
# on the statement object).
@cache
def _statement(name: str, dialect: str) -> Executable:
    events, rejections = _EVENTS.c, _REJECTIONS.c
    if name == "count_rejections":
        insert = _insert(_REJECTIONS, dialect)
        incoming = insert.excluded
        return insert.on_conflict_do_update(
            index_elements=[rejections.minute_start, rejections.reason, rejections.source_address],
            set_={
                "delivery_count": rejections.delivery_count + incoming.delivery_count,
                "received_at": case(
                    (incoming.received_at < rejections.received_at, incoming.received_at),
                    else_=rejections.received_at,
                ),
                "last_received_at": case(
                    (incoming.last_received_at > rejections.last_received_at, incoming.last_received_at),
                    else_=rejections.last_received_at,
                ),
            },
        )
    if name == "events_by_id_or_sha":
        return select(
            events.event_id, events.body_sha256, events.created_at, events.event_type, events.lag_ms
        ).where(
            events.event_id.in_(bindparam("ids", expanding=True))
            | events.body_sha256.in_(bindparam("shas", expanding=True))
        )
    if name == "count_repeats":
        return (
            update(_EVENTS)
            .where(events.event_id == bindparam("b_event_id"))
            .values(
                delivery_count=events.delivery_count + bindparam("b_count"),
                last_received_at=bindparam("b_at", type_=events.last_received_at.type),
            )
        )
    if name == "record_conflicts":
        return (
            update(_EVENTS)
            .where(events.event_id == bindparam("b_event_id"))
            .values(
                conflict_count=events.conflict_count + bindparam("b_count"),
                last_conflict_at=bindparam("b_at", type_=events.last_conflict_at.type),
                conflict_sha256=bindparam("b_sha"),
                conflict_payload=bindparam("b_payload", type_=events.conflict_payload.type),
            )
        )
    raise KeyError(name)


def _dml(name: str, dialect: str) -> UpdateBase:
    statement = _statement(name, dialect)
    assert isinstance(statement, UpdateBase)
    return statement


def record_rejections(conn: Connection, rejections: Sequence[Mapping[str, Any]]) -> None:
    """Count rejected deliveries into their (UTC minute, reason, source address) rows.

    Each mapping is one delivery: received_at, reason, source_address and the sample columns. A row
    keeps its first delivery's sample, the count and the first and last time seen; deliveries of the
    same key from this batch and from other receiver processes add up (ON CONFLICT on the key).
    """
    if not rejections:
        return
    grouped: dict[tuple[datetime, str, str], dict[str, Any]] = {}
    for rejection in rejections:
        at: datetime = rejection["received_at"]
        source = rejection.get("source_address") or "unknown"
        key = (at.replace(second=0, microsecond=0), str(rejection["reason"]), source)
        row = grouped.get(key)
        if row is None:
            grouped[key] = {
                "minute_start": key[0],
                "reason": key[1],
                "source_address": source,
                "received_at": at,
                "last_received_at": at,
                "delivery_count": 1,
                **{name: rejection.get(name) for name in _REJECTION_SAMPLE},
            }
            continue
        row["delivery_count"] += 1
        row["received_at"] = min(row["received_at"], at)
        row["last_received_at"] = max(row["last_received_at"], at)
    # Keys in one order: two replicas counting into the same rows lock them in the same order.
    execute_rows(conn, _dml("count_rejections", conn.dialect.name), [grouped[key] for key in sorted(grouped)])


# One (created_at, event_type, lag_ms, new events, deliveries) count for the webhook lag rollup.
LagCount = tuple[datetime, str, int, int, int]


class LagCounts:
    """The lag-rollup counts of one batch (its new events and its repeats), gathered so that the
    batch writes them in one statement instead of one per kind."""

    def __init__(self) -> None:
        self._counts: list[LagCount] = []

    def add(self, counts: Iterable[LagCount]) -> None:
        self._counts.extend(counts)

    def write(self, conn: Connection) -> None:
        counts, self._counts = self._counts, []
        add_webhook_events(conn, counts)


def _insert_new_finish(insert: Any) -> Any:
    return insert.on_conflict_do_nothing().returning(_EVENTS.c.event_id)


def insert_new_events(
    conn: Connection, rows: Sequence[Mapping[str, Any]], *, lag: LagCounts | None = None
) -> set[str]:
    """Insert the events not seen before; returns the ids actually inserted (the rest are repeats).
    The inserted ones are counted into the webhook lag rollup in the same transaction (into `lag`,
    when given, for the caller to write with the batch's other counts).

    ON CONFLICT DO NOTHING … RETURNING makes "new or repeat?" one atomic question even with several
    receiver processes on one database, and inside one statement: of two rows with the same body
    (the unique body_sha256) only the first is inserted. No conflict target: a known event id and a
    known body both make a row a repeat; `classify_unwritten` tells which. One multi-row statement
    per batch (its text compiled once per row count), handed to the driver: SQLAlchemy's
    insertmanyvalues cost more than the insert itself at a receiver's batch sizes.
    """
    if not rows:
        return set()
    inserted = {event_id for (event_id,) in insert_values(conn, _EVENTS, rows, finish=_insert_new_finish)}
    counts = (
        (row["created_at"], row["event_type"], row["lag_ms"], 1, row.get("delivery_count", 1))
        for row in rows
        if row["event_id"] in inserted
    )
    if lag is not None:
        lag.add(counts)
    else:
        add_webhook_events(conn, counts)
    return inserted


@dataclass(frozen=True, slots=True)
class Unwritten:
    """What a delivery that was not inserted is: a repeat of `event_id`, or a conflict with it."""

    event_id: str  # the stored event it repeats or conflicts with
    conflict: bool  # same event id, different body
    # The stored event's (created_at, event_type, lag_ms): where its repeats count in the lag rollup.
    lag_key: tuple[datetime, str, int] | None = None


def classify_unwritten(conn: Connection, deliveries: Sequence[tuple[str, str | None]]) -> list[Unwritten]:
    """For each (event id, body sha256) that was not inserted: the stored event it belongs to.

    Same id, same body (or a row from before bodies were hashed): a repeat. Same id, another body: a
    conflict. Another id, a known body: a repeat of the event stored with that body.
    """
    if not deliveries:
        return []
    ids = sorted({event_id for event_id, _ in deliveries})
    shas = sorted({sha for _, sha in deliveries if sha})
    # One query for both keys: the rows stored under these ids and those stored with these bodies.
    stored = conn.execute(_statement("events_by_id_or_sha", conn.dialect.name), {"ids": ids, "shas": shas})
    by_id: dict[str, str | None] = {}
    by_sha: dict[str, str] = {}
    lag_keys: dict[str, tuple[datetime, str, int]] = {}
    for stored_id, stored_sha, created_at, event_type, lag_ms in stored:
        by_id[stored_id] = stored_sha
        lag_keys[stored_id] = (created_at, event_type, lag_ms)
        if stored_sha is not None:
            by_sha[stored_sha] = stored_id
    classified: list[Unwritten] = []
    for event_id, sha in deliveries:
        if event_id in by_id:
            stored_sha = by_id[event_id]
            conflict = bool(sha and stored_sha and stored_sha != sha)
            classified.append(Unwritten(event_id, conflict=conflict, lag_key=lag_keys[event_id]))
        elif sha and sha in by_sha:
            classified.append(Unwritten(by_sha[sha], conflict=False, lag_key=lag_keys[by_sha[sha]]))
        else:  # pragma: no cover - not inserted means one of the two keys is stored
            raise RuntimeError(f"event {event_id} was neither inserted nor found")
    return classified


def record_conflicts(conn: Connection, conflicts: Mapping[str, tuple[int, datetime, str, Any]]) -> None:
    """Count conflicting bodies per event id (how many, the last one's time, its sha256 and payload)."""
    if not conflicts:
        return
    statement = _statement("record_conflicts", conn.dialect.name)
    conn.execute(
        statement,
        [
            {"b_event_id": event_id, "b_count": count, "b_at": at, "b_sha": sha, "b_payload": payload}
            for event_id, (count, at, sha, payload) in sorted(conflicts.items())
        ],
    )


def count_repeats(
    conn: Connection,
    repeats: Mapping[str, tuple[int, datetime]],
    *,
    lag: LagCounts | None = None,
    lag_keys: Mapping[str, tuple[datetime, str, int]] | None = None,
) -> None:
    """Add each event's repeat deliveries (event id → (how many, the last one's time)), to the event
    and to the webhook lag rollup (into `lag`, when given, for the caller to write).

    `lag_keys` (event id → its stored created_at, event_type, lag_ms, as `classify_unwritten` read
    them) saves reading them again; events it does not name are read here."""
    if not repeats:
        return
    execute_rows(
        conn,
        _dml("count_repeats", conn.dialect.name),
        [
            {"b_event_id": event_id, "b_count": count, "b_at": at}
            for event_id, (count, at) in sorted(repeats.items())
        ],
    )
    known = dict(lag_keys or {})
    missing = sorted(event_id for event_id in repeats if event_id not in known)
    if missing:
        column = _EVENTS.c
        read = conn.execute(
            select(column.event_id, column.created_at, column.event_type, column.lag_ms).where(
                column.event_id.in_(missing)
            )
        )
        known.update(
            {event_id: (created_at, event_type, lag_ms) for event_id, created_at, event_type, lag_ms in read}
        )
    counts = ((*known[event_id], 0, count) for event_id, (count, _) in repeats.items() if event_id in known)
    if lag is not None:
        lag.add(counts)
    else:
        add_webhook_events(conn, counts)


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
