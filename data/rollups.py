"""Hourly and daily payment rollups, kept current by every writer: recomputed from raw payments for the
buckets a write touched (`after_payments_written` is the payments entity's after-write hook). And the
daily webhook lag rollup, counted up by the receiver's statements (data/webhook_events.py) as events
and repeat deliveries are stored.

A bucket is one IST clock hour, stored by its aware-UTC start (always HH:30 UTC because IST = UTC+5:30),
so every IST day is exactly 24 whole buckets and IST-day filters on rollups are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Integer,
    Select,
    Table,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
)

from data.ist import ist_day_of, ist_midnight
from data.models import (
    Payment,
    PaymentFailureRollupDaily,
    PaymentFailureRollupHourly,
    PaymentRollupDaily,
    PaymentRollupHourly,
    WebhookEvent,
    WebhookLagRollupDaily,
)
from data.upsert import insert_values
from data.vocabulary import SUCCESS_STATUSES

__all__ = [
    "BREAKDOWN_DIMENSIONS",
    "LAG_GRID",
    "RECONCILE_LOCK",
    "ROLLUP_LOCK",
    "SUCCESS_STATUSES",
    "IstExpressions",
    "add_webhook_events",
    "after_payments_written",
    "bucket_start",
    "buckets_for_hours",
    "lag_bucket_ms",
    "lag_bucket_sql",
    "payment_hours",
    "rebuild_all",
    "rebuild_webhook_lag",
    "refresh_payment_hours",
    "serialise",
]

# Payment attributes that get their own rows in payment_rollup_hourly (dimension = column name).
BREAKDOWN_DIMENSIONS = ("bank", "card_network", "card_type", "card_issuer", "wallet", "upi_flow", "upi_app")

_HOUR = timedelta(hours=1)
_HALF_HOUR = timedelta(minutes=30)
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
_ROLLUP: Table = PaymentRollupHourly.__table__  # type: ignore[assignment]
_FAILURES: Table = PaymentFailureRollupHourly.__table__  # type: ignore[assignment]
_DAILY: Table = PaymentRollupDaily.__table__  # type: ignore[assignment]
_FAILURES_DAILY: Table = PaymentFailureRollupDaily.__table__  # type: ignore[assignment]
_EVENTS: Table = WebhookEvent.__table__  # type: ignore[assignment]
_LAG: Table = WebhookLagRollupDaily.__table__  # type: ignore[assignment]

# The lag rollup's buckets: (up to this lag in ms, step in ms); 10 s steps beyond the last. A lag is
# counted in the bucket named by its upper edge (the lag rounded up to the grid), so a percentile read
# from the buckets is at most one step (≤ 1 %) above the exact one, and a threshold on the grid (the
# 5-minute "late") counts exactly.
LAG_GRID: tuple[tuple[int, int], ...] = ((10_000, 10), (100_000, 100), (1_000_000, 1_000))
_LAG_STEP_BEYOND = 10_000


# Transaction-scoped PostgreSQL advisory lock keys (arbitrary constants, unique within payops).
ROLLUP_LOCK = 0x5041_594F_5053_0001
RECONCILE_LOCK = 0x5041_594F_5053_0002


def serialise(conn: Connection, key: int) -> None:
    """Hold a PostgreSQL advisory lock until the transaction ends (SQLite serialises writers itself).

    Two writers refreshing the same bucket concurrently would both delete, then both insert: the
    second insert would hit the primary key. The lock makes the refreshes take turns.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def bucket_start(ts: datetime) -> datetime:
    """The aware-UTC start of the IST hour containing `ts`."""
    shifted = ts.astimezone(UTC) - _HALF_HOUR
    return shifted.replace(minute=0, second=0, microsecond=0) + _HALF_HOUR


def buckets_for_hours(hours: Iterable[datetime]) -> list[datetime]:
    """The IST-hour buckets overlapping each UTC hour that contains one of `hours` (two per hour)."""
    buckets: set[datetime] = set()
    for ts in hours:
        hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        buckets.add(bucket_start(hour))
        buckets.add(bucket_start(hour + _HOUR - timedelta(microseconds=1)))
    return sorted(buckets)


def _runs(buckets: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Contiguous bucket runs as [start, end) ranges, so one statement covers each run."""
    runs: list[tuple[datetime, datetime]] = []
    for bucket in buckets:
        if runs and runs[-1][1] == bucket:
            runs[-1] = (runs[-1][0], bucket + _HOUR)
        else:
            runs.append((bucket, bucket + _HOUR))
    return runs


def refresh_payment_hours(conn: Connection, hours: Iterable[datetime]) -> None:
    """Recompute the rollup rows of the buckets overlapping the given UTC hours from raw payments.

    Idempotent; runs inside the caller's transaction (the sync and the webhook receiver call it in
    the same transaction as their payment upsert). Cost: one indexed created_at range per statement.
    """
    runs = _runs(buckets_for_hours(hours))
    if not runs:
        return
    serialise(conn, ROLLUP_LOCK)
    for start, end in runs:
        _recompute(conn, start, end)
    for start, end in _day_runs(runs):
        _recompute_days(conn, start, end)


def payment_hours(rows: Iterable[Mapping[str, Any]]) -> set[datetime]:
    """The UTC hours whose rollups a write of these payment rows changes."""
    return {row["created_at"].replace(minute=0, second=0, microsecond=0) for row in rows}


def after_payments_written(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keep the rollups current for payment rows just upserted, in the writer's transaction."""
    if rows:
        refresh_payment_hours(conn, payment_hours(rows))


def rebuild_all(conn: Connection) -> int:
    """Drop and recompute every rollup row from raw payments (and the webhook lag rollup from raw
    events). Returns the number of payment buckets written."""
    serialise(conn, ROLLUP_LOCK)
    for rollup in (_ROLLUP, _FAILURES, _DAILY, _FAILURES_DAILY):
        conn.execute(delete(rollup))
    _insert_rollups(conn, None, None)
    _insert_daily(conn, None, None)
    rebuild_webhook_lag(conn)
    return int(conn.execute(select(func.count(func.distinct(_ROLLUP.c.bucket_start)))).scalar_one())


# --- webhook lag ---------------------------------------------------------------------------------


def lag_bucket_ms(lag_ms: int) -> int:
    """The lag bucket (its upper edge, ms) a lag is counted in; see LAG_GRID."""
    if lag_ms <= 0:
        return 0
    for limit, step in LAG_GRID:
        if lag_ms <= limit:
            return -(-lag_ms // step) * step
    return -(-lag_ms // _LAG_STEP_BEYOND) * _LAG_STEP_BEYOND


def lag_bucket_sql(lag_ms: Any) -> ColumnElement[int]:
    """`lag_bucket_ms` in SQL (integer arithmetic, the same on SQLite and PostgreSQL)."""

    def rounded_up(step: int) -> ColumnElement[int]:
        return ((lag_ms + (step - 1)) // step) * step  # type: ignore[no-any-return]

    return case(
        (lag_ms <= 0, literal(0)),
        *((lag_ms <= limit, rounded_up(step)) for limit, step in LAG_GRID),
        else_=rounded_up(_LAG_STEP_BEYOND),
    )


def rebuild_webhook_lag(conn: Connection) -> None:
    """Recompute the webhook lag rollup from every stored event."""
    conn.execute(delete(_LAG))
    day = IstExpressions(conn.dialect.name, _EVENTS.c.created_at).day
    bucket = lag_bucket_sql(_EVENTS.c.lag_ms)
    grouped = select(
        day, _EVENTS.c.event_type, bucket, func.count(), func.sum(_EVENTS.c.delivery_count)
    ).group_by(day, _EVENTS.c.event_type, bucket)
    conn.execute(
        insert(_LAG).from_select(["ist_day", "event_type", "lag_bucket_ms", "events", "deliveries"], grouped)
    )


def _count_lag_up(insert: Any) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[_LAG.c.ist_day, _LAG.c.event_type, _LAG.c.lag_bucket_ms],
        set_={
            "events": _LAG.c.events + insert.excluded.events,
            "deliveries": _LAG.c.deliveries + insert.excluded.deliveries,
        },
    )


def add_webhook_events(conn: Connection, counted: Iterable[tuple[datetime, str, int, int, int]]) -> None:
    """Count into the lag rollup, per (created_at, event_type, lag_ms): new events and deliveries.

    Increments (INSERT … ON CONFLICT DO UPDATE), so concurrent receivers add up instead of
    overwriting each other; rows go in key order, so two transactions lock them in the same order.
    One multi-row statement (keys are unique after the grouping here), its text compiled once per row
    count: the receiver runs this in every batch."""
    totals: dict[tuple[date, str, int], list[int]] = {}
    for created_at, event_type, lag_ms, events, deliveries in counted:
        total = totals.setdefault((ist_day_of(created_at), event_type, lag_bucket_ms(lag_ms)), [0, 0])
        total[0] += events
        total[1] += deliveries
    if not totals:
        return
    insert_values(
        conn,
        _LAG,
        [
            {"ist_day": day, "event_type": event_type, "lag_bucket_ms": bucket, "events": n, "deliveries": d}
            for (day, event_type, bucket), (n, d) in sorted(totals.items())
        ],
        finish=_count_lag_up,
    )


def _recompute(conn: Connection, start: datetime, end: datetime) -> None:
    conn.execute(delete(_ROLLUP).where(_ROLLUP.c.bucket_start >= start, _ROLLUP.c.bucket_start < end))
    conn.execute(delete(_FAILURES).where(_FAILURES.c.bucket_start >= start, _FAILURES.c.bucket_start < end))
    _insert_rollups(conn, start, end)


def _day_runs(runs: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The whole IST days covering the bucket runs, merged, as [start, end) instants."""
    days: list[tuple[datetime, datetime]] = []
    for start, end in runs:
        first = ist_midnight(ist_day_of(start))
        last = ist_midnight(ist_day_of(end - timedelta(microseconds=1)) + timedelta(days=1))
        if days and days[-1][1] >= first:
            days[-1] = (days[-1][0], max(days[-1][1], last))
        else:
            days.append((first, last))
    return days


def _recompute_days(conn: Connection, start: datetime, end: datetime) -> None:
    first, last = ist_day_of(start), ist_day_of(end - timedelta(microseconds=1))
    conn.execute(delete(_DAILY).where(_DAILY.c.ist_day >= first, _DAILY.c.ist_day <= last))
    conn.execute(
        delete(_FAILURES_DAILY).where(_FAILURES_DAILY.c.ist_day >= first, _FAILURES_DAILY.c.ist_day <= last)
    )
    _insert_daily(conn, start, end)


def _insert_daily(conn: Connection, start: datetime | None, end: datetime | None) -> None:
    """Daily rows = the day's 24 hourly rows summed (IST days are whole buckets)."""
    for hourly, daily, keys, measures in (
        (
            _ROLLUP,
            _DAILY,
            ["ist_day", "dimension", "dim_value", "currency", "method", "country", "country_source"],
            ["attempts", "successes", "failures", "created_count", "attempt_amount", "success_amount"],
        ),
        (
            _FAILURES,
            _FAILURES_DAILY,
            ["ist_day", "currency", "method", "country", "error_source", "error_step", "error_reason"],
            ["failures", "failed_amount"],
        ),
    ):
        query = select(*[hourly.c[key] for key in keys], *[func.sum(hourly.c[m]) for m in measures]).group_by(
            *[hourly.c[key] for key in keys]
        )
        if start is not None:
            query = query.where(hourly.c.bucket_start >= start)
        if end is not None:
            query = query.where(hourly.c.bucket_start < end)
        conn.execute(insert(daily).from_select([*keys, *measures], query))


class IstExpressions:
    """Dialect-specific SQL for a timestamp column's bucket, IST day and IST hour (constant SQL, no values)."""

    def __init__(self, dialect: str, created_at: Any = None) -> None:
        created_at = _PAYMENTS.c.created_at if created_at is None else created_at
        if dialect == "sqlite":
            # UTCDateTime stores 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC); produce the same text.
            self.bucket: ColumnElement[Any] = func.strftime(
                literal_column("'%Y-%m-%d %H:30:00.000000'"), created_at, literal_column("'-30 minutes'")
            )
            self.day: ColumnElement[Any] = func.date(created_at, literal_column("'+330 minutes'"))
            self.hour: ColumnElement[Any] = cast(
                func.strftime(literal_column("'%H'"), created_at, literal_column("'+330 minutes'")), Integer
            )
        elif dialect == "postgresql":
            utc = func.timezone(literal_column("'UTC'"), created_at)
            self.bucket = func.timezone(
                literal_column("'UTC'"),
                func.date_trunc(literal_column("'hour'"), utc - literal_column("interval '30 minutes'"))
                + literal_column("interval '30 minutes'"),
            )
            ist_local = utc + literal_column("interval '330 minutes'")
            self.day = cast(ist_local, Date)
            self.hour = cast(extract("hour", ist_local), Integer)
        else:  # pragma: no cover - only the two supported databases reach here
            raise NotImplementedError(f"rollups are not implemented for {dialect}")


def _blank(column: Any) -> ColumnElement[Any]:
    return func.coalesce(column, literal(""))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _sum_if(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
    return func.sum(case((condition, value), else_=0))


def _in_range(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(_PAYMENTS.c.created_at >= start)
    if end is not None:
        conditions.append(_PAYMENTS.c.created_at < end)
    return conditions


def _insert_rollups(conn: Connection, start: datetime | None, end: datetime | None) -> None:
    sql = IstExpressions(conn.dialect.name)
    p = _PAYMENTS.c
    # The range's payments are read once, with their bucket, IST day and hour computed once per row
    # (a MATERIALIZED CTE); the "all" rows and every breakdown dimension are grouped from it in one
    # INSERT. Eight statements each re-reading the wide payment rows and re-evaluating the date
    # functions cost the sync more than its own insert on SQLite.
    source = (
        select(
            sql.bucket.label("bucket"),
            sql.day.label("day"),
            sql.hour.label("hour"),
            p.status,
            p.amount,
            p.currency,
            _blank(p.method).label("method"),
            _blank(p.country).label("country"),
            _blank(p.country_source).label("country_source"),
            *[p[dimension] for dimension in BREAKDOWN_DIMENSIONS],
        )
        .where(*_in_range(start, end))
        .cte("rollup_source")
        .prefix_with("MATERIALIZED")
    )
    r = source.c
    status = r.status
    success = status.in_(SUCCESS_STATUSES)
    attempt = status != "created"
    measures = [
        _count_if(attempt).label("attempts"),
        _count_if(success).label("successes"),
        _count_if(status == "failed").label("failures"),
        _count_if(status == "created").label("created_count"),
        _sum_if(attempt, r.amount).label("attempt_amount"),
        _sum_if(success, r.amount).label("success_amount"),
    ]
    keys = [r.currency, r.method, r.country, r.country_source]
    columns = [
        "bucket_start",
        "ist_day",
        "ist_hour",
        "dimension",
        "dim_value",
        "currency",
        "method",
        "country",
        "country_source",
        "attempts",
        "successes",
        "failures",
        "created_count",
        "attempt_amount",
        "success_amount",
    ]
    groupings: list[Select[Any]] = [
        select(r.bucket, r.day, r.hour, literal("all"), literal(""), *keys, *measures).group_by(
            r.bucket, r.day, r.hour, *keys
        )
    ]
    for dimension in BREAKDOWN_DIMENSIONS:
        value = r[dimension]
        groupings.append(
            select(r.bucket, r.day, r.hour, literal(dimension), value, *keys, *measures)
            .where(value.is_not(None))
            .group_by(r.bucket, r.day, r.hour, value, *keys)
        )
    conn.execute(insert(_ROLLUP).from_select(columns, union_all(*groupings)))

    status = p.status
    range_conditions = _in_range(start, end)
    failure_keys = [
        p.currency,
        _blank(p.method),
        _blank(p.country),
        _blank(p.error_source),
        _blank(p.error_step),
        _blank(p.error_reason),
    ]
    failed: Select[Any] = (
        select(sql.bucket, sql.day, *failure_keys, func.count().label("failures"), func.sum(p.amount))
        .where(status == "failed", *range_conditions)
        .group_by(sql.bucket, sql.day, *failure_keys)
    )
    conn.execute(
        insert(_FAILURES).from_select(
            [
                "bucket_start",
                "ist_day",
                "currency",
                "method",
                "country",
                "error_source",
                "error_step",
                "error_reason",
                "failures",
                "failed_amount",
            ],
            failed,
        )
    )
