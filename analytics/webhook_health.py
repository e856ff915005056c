"""Webhook health: deliveries, duplicates, rejections and lag per event type and IST day; events that
never came; silences; webhook-versus-API status conflicts.

Coverage rule (docs/metrics.md): an event is expected only for entities created while webhooks were
flowing — from the earliest created_at of any payment a received event refers to, up to the last
delivery received, and no later than `now − grace`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)

from analytics.db import Db, as_int, reading, side_by_side
from analytics.filters import Filters, between, conditions
from analytics.listing import count_rows, first_and_total
from data.models import Payment, Refund, WebhookEvent, WebhookLagRollupDaily, WebhookRejection
from data.rollups import IstExpressions
from data.vocabulary import CAPTURED_STATUSES, PAYMENT_STATUS_RANK, SUCCESS_STATUSES

__all__ = [
    "Conflict",
    "Coverage",
    "MissingEvent",
    "WebhookHealth",
    "coverage",
    "missing_events",
    "status_conflicts",
    "webhook_health",
]

_E: Table = WebhookEvent.__table__  # type: ignore[assignment]
_J: Table = WebhookRejection.__table__  # type: ignore[assignment]
_P: Table = Payment.__table__  # type: ignore[assignment]
_R: Table = Refund.__table__  # type: ignore[assignment]
_LAG: Table = WebhookLagRollupDaily.__table__  # type: ignore[assignment]

# (entity kind, id column) → the condition keeping the column to some entities: how an incremental
# reconcile pass (analytics.reconcile_scope) narrows the webhook rules; None looks at everything.
Within = Callable[[str, Any], ColumnElement[bool]] | None

_PERCENTILES = (50, 95, 99)
# How many of the oldest payments `coverage` checks for an event before taking the minimum over events.
_OLDEST_PAYMENTS = 1000


class _SecondsShift:
    """`timestamp ± 5 seconds` in each dialect (constant SQL; SQLite keeps UTCDateTime's text format)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def plus(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "sqlite":
            return func.strftime(
                literal_column("'%Y-%m-%d %H:%M:%f000'"), column, literal_column("'+5 seconds'")
            )
        return column + literal_column("interval '5 seconds'")  # type: ignore[no-any-return]

    def minus(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "sqlite":
            return func.strftime(
                literal_column("'%Y-%m-%d %H:%M:%f000'"), column, literal_column("'-5 seconds'")
            )
        return column - literal_column("interval '5 seconds'")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Coverage:
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class MissingEvent:
    expected_event: str
    entity_id: str
    payment_id: str | None
    status: str
    amount: int
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class Conflict:
    payment_id: str
    event_id: str
    event_type: str
    webhook_status: str
    api_status: str
    event_created_at: datetime


def coverage(conn: Connection, *, now: datetime, grace_minutes: int) -> Coverage:
    """The window of entity created_at in which a missing event counts as missing (see module doc)."""
    # The oldest payment some payment.* event refers to. Usually one of the very oldest payments, so
    # look among the first few by created_at (indexed); when webhooks only began after a long history
    # of payments, take the minimum over the (then much fewer) payments events refer to instead of
    # probing every older payment for an event.
    oldest = select(_P.c.id, _P.c.created_at).order_by(_P.c.created_at).limit(_OLDEST_PAYMENTS).subquery()
    start = conn.execute(
        select(func.min(oldest.c.created_at)).where(
            exists().where(_E.c.payment_id == oldest.c.id, _E.c.event_type.like("payment.%"))
        )
    ).scalar()
    if start is None:
        referenced = select(_E.c.payment_id).where(_E.c.event_type.like("payment.%"))
        start = conn.execute(select(func.min(_P.c.created_at)).where(_P.c.id.in_(referenced))).scalar()
    last_received = conn.execute(select(func.max(_E.c.received_at))).scalar()
    if start is None or last_received is None:
        return Coverage(None, None)
    end = min(now - timedelta(minutes=grace_minutes), last_received)
    return Coverage(start, end)


# (expected event type, entity table, statuses that require it): what "the API says it happened" means.
_EXPECTATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("payment.captured", "payment", CAPTURED_STATUSES),
    ("payment.failed", "payment", ("failed",)),
    ("refund.processed", "refund", ("processed",)),
)


def _missing_query(
    event_type: str,
    entity: str,
    statuses: tuple[str, ...],
    start: datetime,
    end: datetime,
    within: Within = None,
) -> Any:
    """Entities of one expectation created in [start, end) without the event, oldest first."""
    table = _P if entity == "payment" else _R
    created: Any = table.c.created_at
    scoped = []
    if within is not None:
        scoped.append(within(entity, table.c.id))
        # Kept to a few ids: the coverage window is most of history, and an index range over it is
        # what a planner guessing a range's size (SQLite's) would otherwise walk. coalesce(x, x) is x
        # but no index expression.
        created = func.coalesce(table.c.created_at, table.c.created_at)
    if entity == "payment":
        arrived = (
            select(_E.c.payment_id).where(_E.c.payment_id == _P.c.id, _E.c.event_type == event_type).exists()
        )
        return (
            select(_P.c.id, _P.c.id, _P.c.status, _P.c.amount, _P.c.currency, _P.c.created_at)
            .where(_P.c.status.in_(statuses), created >= start, created < end, ~arrived, *scoped)
            .order_by(_P.c.created_at)
        )
    arrived = exists().where(_E.c.refund_id == _R.c.id, _E.c.event_type == event_type)
    return (
        select(_R.c.id, _R.c.payment_id, _R.c.status, _R.c.amount, _R.c.currency, _R.c.created_at)
        .where(_R.c.status.in_(statuses), created >= start, created < end, ~arrived, *scoped)
        .order_by(_R.c.created_at)
    )


def missing_events(
    conn: Connection,
    *,
    now: datetime,
    grace_minutes: int = 30,
    limit: int | None = None,
    within: Within = None,
) -> list[MissingEvent]:
    """Entities whose API state requires an event that never arrived, within the coverage window
    (and `within`, when given, keeps each query to some payments and refunds)."""
    window = coverage(conn, now=now, grace_minutes=grace_minutes)
    if window.start is None or window.end is None or window.end <= window.start:
        return []
    found: list[MissingEvent] = []
    for event_type, entity, statuses in _EXPECTATIONS:
        query = _missing_query(event_type, entity, statuses, window.start, window.end, within)
        if limit is not None:
            query = query.limit(limit)
        found.extend(MissingEvent(event_type, *row) for row in conn.execute(query))
    return found


def _missing_in_range(
    conn: Connection, window: Coverage, start: datetime | None, end: datetime | None, limit: int
) -> list[MissingEvent]:
    """`missing_events` restricted to entities created in [start, end), the first `limit` of them in
    the same order: the range and the limit go into each query instead of filtering every missing
    entity of the whole coverage window in Python."""
    if window.start is None or window.end is None or window.end <= window.start:
        return []
    lower = window.start if start is None else max(window.start, start)
    upper = window.end if end is None else min(window.end, end)
    found: list[MissingEvent] = []
    for event_type, entity, statuses in _EXPECTATIONS:
        if lower >= upper or len(found) >= limit:
            break
        query = _missing_query(event_type, entity, statuses, lower, upper).limit(limit - len(found))
        found.extend(MissingEvent(event_type, *row) for row in conn.execute(query))
    return found


def _missing_count(conn: Connection, window: Coverage, start: datetime | None, end: datetime | None) -> int:
    """How many entities `_missing_in_range` would list with no limit: a COUNT per expectation, so
    the card says the true number, not the length of the table's first rows."""
    if window.start is None or window.end is None or window.end <= window.start:
        return 0
    lower = window.start if start is None else max(window.start, start)
    upper = window.end if end is None else min(window.end, end)
    if lower >= upper:
        return 0
    total = 0
    for event_type, entity, statuses in _EXPECTATIONS:
        query = _missing_query(event_type, entity, statuses, lower, upper).order_by(None)
        total += int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    return total


MISSING_COLUMNS = ["expected_event", "entity_id", "payment_id", "status", "amount", "currency", "created_at"]


def missing_rows(
    db: Db,
    filters: Filters | None = None,
    *,
    now: datetime | None = None,
    grace_minutes: int = 30,
    chunk: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Every missing event of the period (what `webhook_health(...).missing` holds the first of), in
    the same order, streamed from a server-side cursor: the page's CSV of them."""
    start, end = (filters or Filters()).utc_range()
    with reading(db) as conn:
        window = coverage(conn, now=now or datetime.now(UTC), grace_minutes=grace_minutes)
        if window.start is None or window.end is None or window.end <= window.start:
            return
        lower = window.start if start is None else max(window.start, start)
        upper = window.end if end is None else min(window.end, end)
        if lower >= upper:
            return
        for event_type, entity, statuses in _EXPECTATIONS:
            query = _missing_query(event_type, entity, statuses, lower, upper)
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
            for row in result:
                yield dict(zip(MISSING_COLUMNS, (event_type, *row), strict=True))


def status_conflicts(
    conn: Connection,
    *,
    limit: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    within: Within = None,
) -> list[Conflict]:
    """The conflicts `status_conflicts_query` selects, the first `limit` of them."""
    query = status_conflicts_query(conn.dialect.name, start=start, end=end, within=within)
    if limit is not None:
        query = query.limit(limit)
    return [Conflict(*row) for row in conn.execute(query)]


def status_conflicts_query(
    dialect: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    within: Within = None,
) -> Any:
    """Payment events (created in [start, end) when given; of some payments when `within` says) whose
    status the API (the stored payment row) contradicts.

    Two shapes: (a) the event's status ranks above the stored one (webhook `captured`, API `failed`):
    the receiver applies a newer higher-ranked snapshot, so a lower stored status means a later API
    read contradicted it; (b) a `payment.failed` event for a payment the API shows authorized,
    captured or refunded with no authorisation or capture event after it (see docs/metrics.md for
    "after") — a genuine late authorisation (failed → authorized) sends its success event after
    the failure.
    """

    # The same forward order the receiver applies: a webhook status ranked above the API's is a conflict.
    def webhook_rank(status: Any) -> ColumnElement[int]:
        return case(PAYMENT_STATUS_RANK, value=status, else_=-1)

    def api_rank(status: Any) -> ColumnElement[int]:
        return case(PAYMENT_STATUS_RANK, value=status, else_=99)

    # Two steps, so that a month of events is read from indexes alone. First every period event that
    # may conflict — its rank above the API's, or a failure the API shows succeeded — from the covering
    # created_at index and each payment's (id, status) index entry.
    statuses = _payment_statuses(dialect)
    candidate = (
        select(
            _E.c.payment_id,
            _E.c.event_type,
            _E.c.created_at,
            _E.c.entity_status,
            statuses.c.status.label("api_status"),
        )
        .join(statuses, statuses.c.id == _E.c.payment_id)
        .where(
            *between(_E.c.created_at, start, end),
            *([] if within is None else [within("payment", _E.c.payment_id)]),
            _E.c.event_type.like("payment.%"),
            _E.c.entity_status.is_not(None),
            or_(
                webhook_rank(_E.c.entity_status) > api_rank(statuses.c.status),
                and_(
                    _E.c.event_type == "payment.failed",
                    _E.c.entity_status == "failed",
                    statuses.c.status.in_(SUCCESS_STATUSES),
                ),
            ),
        )
        .distinct()
        .cte("candidate")
    )
    # Then, for those few, the events themselves (their ids and receipt times) and whether a failure
    # was followed by a success: clearly later by Razorpay's clock (beyond its one-second resolution
    # and delivery jitter), or delivered later without being clearly earlier — a fast replay packs
    # hours of history into a second, and then only the delivery order tells.
    later = _E.alias("later")
    tolerance = _SecondsShift(dialect)
    recovered = exists().where(
        later.c.payment_id == _E.c.payment_id,
        later.c.event_type.in_(("payment.authorized", "payment.captured")),
        or_(
            later.c.created_at > tolerance.plus(_E.c.created_at),
            and_(
                later.c.received_at > _E.c.received_at, later.c.created_at >= tolerance.minus(_E.c.created_at)
            ),
        ),
    )
    query = (
        select(
            _E.c.payment_id,
            _E.c.event_id,
            _E.c.event_type,
            _E.c.entity_status,
            candidate.c.api_status,
            _E.c.created_at,
        )
        .join(
            candidate,
            and_(
                _E.c.payment_id == candidate.c.payment_id,
                _E.c.event_type == candidate.c.event_type,
                _E.c.created_at == candidate.c.created_at,
                _E.c.entity_status == candidate.c.entity_status,
            ),
        )
        # A candidate that is not a rank conflict is a failure the API shows succeeded.
        .where(or_(webhook_rank(candidate.c.entity_status) > api_rank(candidate.c.api_status), ~recovered))
        .order_by(_E.c.created_at, _E.c.event_id)
    )
    return query


def _payment_statuses(dialect: str) -> Any:
    """payments (id, status), read from the (id, status) index. SQLite's planner prefers the primary
    key's own index for a join and then reads each payment's wide row for its status, so it is told
    which index to use (constant SQL); PostgreSQL's planner finds the index-only scan itself."""
    if dialect != "sqlite":
        return _P
    return (
        text("SELECT id, status FROM payments INDEXED BY ix_payments_id_status")
        .columns(column("id", _P.c.id.type), column("status", _P.c.status.type))
        .subquery("payment_status")
    )


@dataclass(frozen=True)
class WebhookHealth:
    coverage_start: datetime | None
    coverage_end: datetime | None
    by_type_day: pd.DataFrame
    rejections: pd.DataFrame
    missing: pd.DataFrame
    duplicates: pd.DataFrame
    late: pd.DataFrame
    silences: pd.DataFrame
    conflicts: pd.DataFrame
    # The true numbers (a COUNT): each table holds at most the first `limit` of its rows.
    missing_total: int = 0
    duplicates_total: int = 0
    late_total: int = 0
    conflicts_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {str(key): _jsonable(value) for key, value in row.items()}
                for row in frame.to_dict(orient="records")
            ]

        return {
            "coverage": {"start": _jsonable(self.coverage_start), "end": _jsonable(self.coverage_end)},
            "by_type_day": records(self.by_type_day),
            "rejections": records(self.rejections),
            "missing": records(self.missing),
            "missing_total": self.missing_total,
            "duplicates_total": self.duplicates_total,
            "late_total": self.late_total,
            "conflicts_total": self.conflicts_total,
            "duplicates": records(self.duplicates),
            "late": records(self.late),
            "silences": records(self.silences),
            "conflicts": records(self.conflicts),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _range(column: Any, filters: Filters) -> list[ColumnElement[bool]]:
    return conditions(filters, at=column)


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    return pd.DataFrame([tuple(row) for row in rows], columns=columns)


def _by_type_day(conn: Connection, filters: Filters, late_ms: int) -> pd.DataFrame:
    # From the daily lag rollup (data/rollups.py: events and deliveries per IST day, event type and lag
    # bucket, kept by the receiver): a month is a few thousand rows, not every event. Nearest-rank
    # percentiles follow from the running counts of each (day, type) histogram; they are the bucket's
    # upper edge, at most one grid step (≤ 1 %) above the exact value (docs/metrics.md).
    query = (
        select(_LAG.c.ist_day, _LAG.c.event_type, _LAG.c.lag_bucket_ms, _LAG.c.events, _LAG.c.deliveries)
        .where(*conditions(filters, day=_LAG.c.ist_day))
        .order_by(_LAG.c.ist_day, _LAG.c.event_type, _LAG.c.lag_bucket_ms)
    )
    histograms: dict[tuple[date, str], list[tuple[int, int, int]]] = {}
    for day, event_type, lag_ms, events, deliveries in conn.execute(query).all():
        histograms.setdefault((_as_date(day), event_type), []).append(
            (as_int(lag_ms), as_int(events), as_int(deliveries))
        )
    rows = []
    for (row_day, event_type), histogram in histograms.items():
        size = sum(events for _, events, _ in histogram)
        if not size:
            continue
        delivered = sum(deliveries for _, _, deliveries in histogram)
        late = sum(events for lag, events, _ in histogram if lag > late_ms)
        rows.append(
            [
                row_day,
                event_type,
                delivered,
                size,
                delivered - size,
                late,
                # Nearest-rank percentile: the value at rank ceil(p·n/100).
                *(_value_at_rank(histogram, (size * p + 99) // 100) for p in _PERCENTILES),
            ]
        )
    columns = [
        "day",
        "event_type",
        "deliveries",
        "unique_events",
        "duplicates",
        "late_events",
        *[f"lag_p{p}_ms" for p in _PERCENTILES],
    ]
    return _frame(rows, columns)


def _as_date(value: Any) -> date:
    # SQLite hands a Date column back as a date already; be explicit for any driver that gives text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _value_at_rank(histogram: list[tuple[int, int, int]], rank: int) -> int:
    """The `rank`-th smallest lag (1-based) of an ascending (lag, events, deliveries) histogram."""
    seen = 0
    for lag, events, _ in histogram:
        seen += events
        if seen >= rank:
            return lag
    return histogram[-1][0]


def _rejections(conn: Connection, filters: Filters) -> pd.DataFrame:
    day = IstExpressions(conn.dialect.name, _J.c.received_at).day
    # A row counts a minute's deliveries from one source; its event type is the first one's claim.
    event_type = func.coalesce(_J.c.event_type, "unknown")
    query = (
        select(day, _J.c.reason, event_type, func.sum(_J.c.delivery_count))
        .where(*_range(_J.c.received_at, filters))
        .group_by(day, _J.c.reason, event_type)
        .order_by(day, _J.c.reason, event_type)
    )
    frame = _frame(list(conn.execute(query)), ["day", "reason", "event_type", "rejections"])
    if len(frame):
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
        frame["rejections"] = frame["rejections"].map(as_int)
    return frame


def _silences(conn: Connection, filters: Filters, silence_minutes: int) -> pd.DataFrame:
    """Gaps of at least `silence_minutes` between consecutive deliveries while payments were created."""
    rows = []
    for before, after in _gaps(conn, filters, timedelta(minutes=silence_minutes)):
        payments = conn.execute(
            select(func.count()).where(_P.c.created_at > before, _P.c.created_at < after)
        ).scalar_one()
        if payments:
            rows.append((before, after, int((after - before).total_seconds() // 60), int(payments)))
    return _frame(rows, ["start", "end", "minutes", "payments_created"])


def _gaps(conn: Connection, filters: Filters, gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive deliveries in the period at least `gap` apart, oldest first.

    A walk along the received_at index instead of reading every delivery: from a delivery p, the last
    delivery m before p + gap and the first one n after m are two index steps; n − m ≥ gap is a gap,
    and either way the walk goes on from n, at least `gap` after p. So a month of 30-minute silences
    costs at most ~1,440 small queries, however many events arrived.
    """
    received = _E.c.received_at
    in_period = _range(received, filters)
    if gap <= timedelta(0):
        times = [row[0] for row in conn.execute(select(received).where(*in_period).order_by(received))]
        return list(itertools.pairwise(times))
    upto = bindparam("upto", type_=received.type)
    last_within = (
        select(func.max(received))
        .where(received >= bindparam("at", type_=received.type), received < upto, *in_period)
        .scalar_subquery()
    )
    step = select(
        last_within, select(func.min(received)).where(received > last_within, *in_period).scalar_subquery()
    )
    at = conn.execute(select(func.min(received)).where(*in_period)).scalar()
    gaps: list[tuple[datetime, datetime]] = []
    while at is not None:
        last, following = conn.execute(step, {"at": at, "upto": at + gap}).one()
        if following is None:
            break
        if following - last >= gap:
            gaps.append((last, following))
        at = following
    return gaps


DUPLICATE_COLUMNS = ["event_id", "event_type", "delivery_count", "payment_id", "created_at"]
LATE_COLUMNS = ["event_id", "event_type", "lag_ms", "created_at", "received_at", "payment_id"]
CONFLICT_COLUMNS = [
    "payment_id",
    "event_id",
    "event_type",
    "webhook_status",
    "api_status",
    "event_created_at",
]


def duplicates_query(filters: Filters) -> Any:
    """Events of the period delivered more than once, most deliveries first (`DUPLICATE_COLUMNS`)."""
    return (
        select(_E.c.event_id, _E.c.event_type, _E.c.delivery_count, _E.c.payment_id, _E.c.created_at)
        .where(_E.c.delivery_count > 1, *_range(_E.c.created_at, filters))
        .order_by(_E.c.delivery_count.desc(), _E.c.event_id)
    )


def late_query(filters: Filters, late_minutes: int = 5) -> Any:
    """Events of the period received more than `late_minutes` after they were sent, latest first."""
    return (
        select(
            _E.c.event_id, _E.c.event_type, _E.c.lag_ms, _E.c.created_at, _E.c.received_at, _E.c.payment_id
        )
        .where(_E.c.lag_ms > late_minutes * 60_000, *_range(_E.c.created_at, filters))
        .order_by(_E.c.lag_ms.desc(), _E.c.event_id)
    )


def _total(conn: Connection, query: Any, shown: int, limit: int) -> int:
    """The true row count of `query`: a COUNT only when its first `limit` rows filled the table."""
    return count_rows(conn, query) if shown >= limit else shown


def webhook_health(
    db: Db,
    filters: Filters | None = None,
    *,
    now: datetime | None = None,
    grace_minutes: int = 30,
    late_minutes: int = 5,
    silence_minutes: int = 30,
    limit: int = 1000,
) -> WebhookHealth:
    """Everything the operations page shows about webhooks (see analytics/README.md)."""
    filters = filters or Filters()
    now = now or datetime.now(UTC)
    late_ms = late_minutes * 60_000
    start, end = filters.utc_range()

    def deliveries(conn: Connection) -> tuple[Any, ...]:
        by_type_day = _by_type_day(conn, filters, late_ms)
        rejections = _rejections(conn, filters)
        late_rows, late_total = first_and_total(conn, late_query(filters, late_minutes), limit)
        late = _frame(late_rows, LATE_COLUMNS)
        silences = _silences(conn, filters, silence_minutes)
        return by_type_day, rejections, late, late_total, silences

    def repeated(conn: Connection) -> tuple[pd.DataFrame, int]:
        duplicate_rows, duplicates_total = first_and_total(conn, duplicates_query(filters), limit)
        return _frame(duplicate_rows, DUPLICATE_COLUMNS), duplicates_total

    def never_came(conn: Connection) -> tuple[Coverage, list[MissingEvent], int]:
        window = coverage(conn, now=now, grace_minutes=grace_minutes)
        missing = _missing_in_range(conn, window, start, end, limit)
        missing_total = _missing_count(conn, window, start, end) if len(missing) >= limit else len(missing)
        return window, missing, missing_total

    def disagreeing(conn: Connection) -> tuple[list[Conflict], int]:
        conflicts = status_conflicts(conn, limit=limit, start=start, end=end)
        query = status_conflicts_query(conn.dialect.name, start=start, end=end)
        return conflicts, _total(conn, query, len(conflicts), limit)

    # The four parts read different things; on an engine they run side by side.
    (
        (by_type_day, rejections, late, late_total, silences),
        (duplicates, duplicates_total),
        (window, missing, missing_total),
        (conflicts, conflicts_total),
    ) = side_by_side(db, deliveries, repeated, never_came, disagreeing)
    return WebhookHealth(
        coverage_start=window.start,
        coverage_end=window.end,
        by_type_day=by_type_day,
        rejections=rejections,
        missing=_frame(
            [
                (m.expected_event, m.entity_id, m.payment_id, m.status, m.amount, m.currency, m.created_at)
                for m in missing
            ],
            ["expected_event", "entity_id", "payment_id", "status", "amount", "currency", "created_at"],
        ),
        duplicates=duplicates,
        late=late,
        silences=silences,
        conflicts=_frame(
            [
                (c.payment_id, c.event_id, c.event_type, c.webhook_status, c.api_status, c.event_created_at)
                for c in conflicts
            ],
            CONFLICT_COLUMNS,
        ),
        missing_total=missing_total,
        duplicates_total=duplicates_total,
        late_total=late_total,
        conflicts_total=conflicts_total,
    )
