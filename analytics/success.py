"""Success rates, KPIs with volume and value per currency, and failure reasons — read from the hourly rollups.

Definitions (docs/metrics.md): attempt = a payment that reached the gateway (status ≠ created);
success = ever authorized (authorized | captured | refunded); success_rate = successes / attempts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Select, Table, case, func, literal, or_, select

from analytics.db import Db, as_int, reading
from analytics.filters import UNKNOWN, Filters, conditions, shows_as
from data.models import Payment, PaymentFailureRollupDaily, PaymentRollupDaily, PaymentRollupHourly
from data.rollups import BREAKDOWN_DIMENSIONS
from data.vocabulary import SUCCESS_STATUSES

__all__ = [
    "DIMENSIONS",
    "DRILLDOWN_DIMENSIONS",
    "FAILURE_DIMENSIONS",
    "Kpis",
    "Outcome",
    "failure_reasons",
    "kpis",
    "normalise_dimension",
    "payments_drilldown",
    "series",
    "success_rates",
]

# Day-range questions read the daily rollup; only hour series and hour-of-day need the hourly one.
_HOURLY: Table = PaymentRollupHourly.__table__  # type: ignore[assignment]
_ROLLUP: Table = PaymentRollupDaily.__table__  # type: ignore[assignment]
_FAILURES: Table = PaymentFailureRollupDaily.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]

# Dimensions kept on every "all" row of the rollup, and the time dimensions.
_KEY_DIMENSIONS = ("method", "country", "country_source", "currency")
_TIME_DIMENSIONS = {"day": "ist_day", "hour": "bucket_start", "hour_of_day": "ist_hour"}
DIMENSIONS = (*_KEY_DIMENSIONS, *BREAKDOWN_DIMENSIONS, *_TIME_DIMENSIONS)
FAILURE_DIMENSIONS = ("error_source", "error_step", "error_reason", "method", "currency", "country")
_ALIASES = {
    "network": "card_network",
    "issuer": "card_issuer",
    "upi": "upi_app",
    "date": "day",
    "daily": "day",
    "hourly": "hour",
    "type": "card_type",
    "flow": "upi_flow",
}
_COUNTS = ["attempts", "successes", "failures", "created"]
_DRILLDOWN_MAX = 1000


def normalise_dimension(by: str) -> str:
    """A dimension name from the CLI or a page (aliases allowed) → its canonical name."""
    name = _ALIASES.get(by.strip().lower(), by.strip().lower())
    if name not in DIMENSIONS:
        raise ValueError(f"unknown dimension {by!r}; choose one of {', '.join(DIMENSIONS)}")
    return name


def _filtered(query: Select[Any], table: Table, filters: Filters) -> Select[Any]:
    hourly = "bucket_start" in table.c
    return query.where(
        *conditions(
            filters,
            at=table.c.bucket_start if hourly else None,
            day=None if hourly else table.c.ist_day,
            currency=table.c.currency,
            method=table.c.method,
            country=table.c.country,
        )
    )


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def _rate(successes: int, attempts: int) -> float:
    return successes / attempts if attempts else math.nan


def _measure_columns(table: Table) -> list[ColumnElement[Any]]:
    return [
        func.sum(table.c.attempts).label("attempts"),
        func.sum(table.c.successes).label("successes"),
        func.sum(table.c.failures).label("failures"),
        func.sum(table.c.created_count).label("created"),
    ]


def _shown(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A key column as rates show it: a missing value ("", NULL) and a stored "unknown" are one
    "unknown" group, summed in SQL (grouping first and renaming after would list it twice)."""
    missing = or_(column.is_(None), column == "", column == UNKNOWN)
    return case((missing, literal(UNKNOWN)), else_=column)


def _query_rates(db: Db, by: str, filters: Filters) -> dict[Any, list[int]]:
    """{key: [attempts, successes, failures, created]} — plain Python; one DataFrame is built at the end
    (pandas overhead on many small frames would cost more than the SQL)."""
    rollup = _HOURLY if by in ("hour", "hour_of_day") else _ROLLUP
    key_column: ColumnElement[Any]
    if by in BREAKDOWN_DIMENSIONS:
        dimension, key_column = by, _shown(rollup.c.dim_value)
    elif by in _TIME_DIMENSIONS:
        dimension, key_column = "all", rollup.c[_TIME_DIMENSIONS[by]]
    else:
        dimension, key_column = "all", _shown(rollup.c[by])
    query = _filtered(
        select(key_column, *_measure_columns(rollup)).where(rollup.c.dimension == dimension),
        rollup,
        filters,
    ).group_by(key_column)
    with reading(db) as conn:
        rows = conn.execute(query).all()
    result: dict[Any, list[int]] = {}
    for key, *counts in rows:
        if by not in _TIME_DIMENSIONS:
            key = key or UNKNOWN
        elif by == "day" and isinstance(key, str):
            key = date.fromisoformat(key)
        result[key] = [as_int(count) for count in counts]
    return result


def _country_sources(db: Db, filters: Filters) -> dict[str, str]:
    query = _filtered(
        select(
            _ROLLUP.c.country,
            _ROLLUP.c.country_source,
            func.sum(_ROLLUP.c.attempts + _ROLLUP.c.created_count),
        )
        .where(_ROLLUP.c.dimension == "all")
        .group_by(_ROLLUP.c.country, _ROLLUP.c.country_source),
        _ROLLUP,
        filters,
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    per_country: dict[str, list[tuple[int, str]]] = {}
    for country, source, count in rows:
        per_country.setdefault(country or UNKNOWN, []).append((as_int(count), source or UNKNOWN))
    return {
        country: ", ".join(
            f"{source}:{count}" for count, source in sorted(sources, key=lambda s: (-s[0], s[1]))
        )
        for country, sources in per_country.items()
    }


def success_rates(
    db: Db, by: str, filters: Filters | None = None, *, compare_previous: bool = False
) -> pd.DataFrame:
    """Attempts, successes, failures, created and success_rate per value of `by` (see README)."""
    by = normalise_dimension(by)
    filters = filters or Filters()
    current = _query_rates(db, by, filters)
    if by in _TIME_DIMENSIONS:
        keys = sorted(current)
    else:
        keys = sorted(current, key=lambda key: (-current[key][0], str(key)))
    columns = [by, *_COUNTS, "success_rate"]
    records: list[list[Any]] = [[key, *current[key], _rate(current[key][1], current[key][0])] for key in keys]
    if by == "country":
        sources = _country_sources(db, filters)
        columns.append("country_sources")
        for record in records:
            record.append(sources.get(record[0], ""))
    if compare_previous:
        previous_filters = filters.previous_period()
        previous = _query_rates(db, by, previous_filters)
        # Time buckets of the previous period line up with this period's shifted by its length.
        assert filters.date_from is not None and previous_filters.date_from is not None
        shift = filters.date_from - previous_filters.date_from
        if by in ("day", "hour"):
            previous = {key + shift: counts for key, counts in previous.items()}
        columns.extend(["prev_attempts", "prev_successes", "prev_success_rate", "delta_pp"])
        for record in records:
            attempts, successes = previous.get(record[0], [0, 0])[:2]
            rate = _rate(successes, attempts)
            record.extend([attempts, successes, rate, (record[5] - rate) * 100.0])
    if not records:
        return _empty(columns)
    return pd.DataFrame(records, columns=columns)


def series(db: Db, grain: Literal["hour", "day"], filters: Filters | None = None) -> pd.DataFrame:
    """Hourly or daily success-rate series (IST days; hours by their UTC start). Gaps are not filled."""
    if grain not in ("hour", "day"):
        raise ValueError(f"grain must be 'hour' or 'day', not {grain!r}")
    return success_rates(db, grain, filters)


@dataclass(frozen=True)
class Kpis:
    """Headline numbers for a filter; counts across currencies, amounts per currency only."""

    attempts: int
    successes: int
    failures: int
    created: int
    success_rate: float | None
    per_currency: pd.DataFrame
    previous: Kpis | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": self.failures,
            "created": self.created,
            "success_rate": self.success_rate,
            "per_currency": self.per_currency.to_dict(orient="records"),
            "previous": self.previous.as_dict() if self.previous else None,
        }


def _kpis(db: Db, filters: Filters) -> Kpis:
    query = _filtered(
        select(
            _ROLLUP.c.currency,
            *_measure_columns(_ROLLUP),
            func.sum(_ROLLUP.c.attempt_amount),
            func.sum(_ROLLUP.c.success_amount),
        ).where(_ROLLUP.c.dimension == "all"),
        _ROLLUP,
        filters,
    ).group_by(_ROLLUP.c.currency)
    with reading(db) as conn:
        rows = sorted(
            ([currency, *(as_int(value) for value in values)] for currency, *values in conn.execute(query)),
            key=lambda row: row[0],
        )
    totals = [sum(row[i] for row in rows) for i in range(1, 5)]
    attempts, successes, failures, created = totals
    columns = ["currency", "attempts", "successes", "attempt_amount", "success_amount", "avg_success_amount"]
    per_currency = [
        [
            currency,
            row_attempts,
            row_successes,
            attempt_amount,
            success_amount,
            success_amount // row_successes if row_successes else 0,
        ]
        for currency, row_attempts, row_successes, _failures, _created, attempt_amount, success_amount in rows
    ]
    return Kpis(
        attempts=attempts,
        successes=successes,
        failures=failures,
        created=created,
        success_rate=successes / attempts if attempts else None,
        per_currency=pd.DataFrame(per_currency, columns=columns) if per_currency else _empty(columns),
    )


def first_payment_day(db: Db) -> date | None:
    """The first IST day with any payment on record: a comparison period before it has no data."""
    with reading(db) as conn:
        first: date | None = conn.execute(
            select(func.min(_ROLLUP.c.ist_day)).where(_ROLLUP.c.dimension == "all")
        ).scalar()
    return first


def kpis(db: Db, filters: Filters | None = None, *, compare_previous: bool = False) -> Kpis:
    """Attempts, successes, failures, created, success rate, and volume/value per currency."""
    filters = filters or Filters()
    current = _kpis(db, filters)
    if not compare_previous:
        return current
    previous = _kpis(db, filters.previous_period())
    return Kpis(
        attempts=current.attempts,
        successes=current.successes,
        failures=current.failures,
        created=current.created,
        success_rate=current.success_rate,
        per_currency=current.per_currency,
        previous=previous,
    )


def failure_reasons(
    db: Db,
    filters: Filters | None = None,
    *,
    by: Sequence[str] = ("error_source", "error_step", "error_reason"),
    limit: int = 10,
) -> pd.DataFrame:
    """Top failure reasons: failures per (by…) and their share of all failed payments in the filter."""
    filters = filters or Filters()
    by = list(by)
    unknown = [name for name in by if name not in FAILURE_DIMENSIONS]
    if not by or unknown:
        raise ValueError(f"failure reasons group by a subset of {', '.join(FAILURE_DIMENSIONS)}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    keys = [_shown(_FAILURES.c[name]) for name in by]
    failures = func.sum(_FAILURES.c.failures)
    query = _filtered(select(*keys, failures.label("failures")), _FAILURES, filters).group_by(*keys)
    total_query = _filtered(select(failures), _FAILURES, filters)
    with reading(db) as conn:
        rows = conn.execute(query.order_by(failures.desc(), *keys).limit(limit)).all()
        total = as_int(conn.execute(total_query).scalar())
    records: list[list[Any]] = [
        [*(value or UNKNOWN for value in keys_and_count[:-1]), as_int(keys_and_count[-1])]
        for keys_and_count in (tuple(row) for row in rows)
    ]
    for record in records:
        record.append(record[-1] / total if total else 0.0)
    columns = [*by, "failures", "share"]
    return pd.DataFrame(records, columns=columns) if records else _empty(columns)


_DRILLDOWN_COLUMNS = (
    "id",
    "created_at",
    "amount",
    "currency",
    "status",
    "method",
    "country",
    "country_source",
    "bank",
    "card_network",
    "wallet",
    "upi_app",
    "error_source",
    "error_step",
    "error_reason",
    "error_description",
    "order_id",
)


# Dimensions a drill-down can filter on: every non-time dimension of `success_rates(by=...)` and of
# `failure_reasons(by=...)`.
_ERROR_DIMENSIONS = ("error_source", "error_step", "error_reason")
DRILLDOWN_DIMENSIONS = (*_KEY_DIMENSIONS, *BREAKDOWN_DIMENSIONS, *_ERROR_DIMENSIONS)
# Which payments behind a number: attempts (status ≠ created), successes, failures, or never attempted.
Outcome = Literal["attempt", "success", "failure", "created"]


def payments_drilldown_query(
    filters: Filters | None = None,
    *,
    dimension: str | None = None,
    value: str | None = None,
    status: str | None = None,
    outcome: Outcome | None = None,
    error_reason: str | None = None,
) -> Select[Any]:
    """Every payment behind a number, newest first (no email or phone): what `payments_drilldown`
    lists the first of, and what its CSV streams (`analytics.listing.stream_rows`).

    `dimension`/`value` pick the payments behind one bar of `success_rates(by=dimension)` or
    `failure_reasons(by=(dimension,))` (aliases allowed; "unknown" is the bar of payments without a
    value); `outcome="attempt"` keeps the payments a rate counts as attempts (status ≠ created).
    """
    filters = filters or Filters()
    if (dimension is None) != (value is None):
        raise ValueError("dimension and value go together")
    if dimension is not None:
        name = _ALIASES.get(dimension.strip().lower(), dimension.strip().lower())
        if name not in DRILLDOWN_DIMENSIONS:
            raise ValueError(
                f"cannot drill down by {dimension!r}; choose one of {', '.join(DRILLDOWN_DIMENSIONS)} "
                "(for a day or an hour, narrow the dates instead)"
            )
        dimension = name
    p = _PAYMENTS.c
    query = select(*[p[name] for name in _DRILLDOWN_COLUMNS])
    query = query.where(
        *conditions(filters, at=p.created_at, currency=p.currency, method=p.method, country=p.country)
    )
    if dimension is not None and value is not None:
        query = query.where(shows_as(p[dimension], value, breakdown=dimension in BREAKDOWN_DIMENSIONS))
    if status:
        query = query.where(p.status == status)
    if outcome == "attempt":
        query = query.where(p.status != "created")
    elif outcome == "success":
        query = query.where(p.status.in_(SUCCESS_STATUSES))
    elif outcome == "failure":
        query = query.where(p.status == "failed")
    elif outcome == "created":
        query = query.where(p.status == "created")
    if error_reason:
        # The failure rollup keeps a missing reason as "", shown as "unknown" like any key column.
        query = query.where(shows_as(p.error_reason, error_reason, breakdown=False))
    return query.order_by(p.created_at.desc(), p.id.desc())


DRILLDOWN_COLUMNS = _DRILLDOWN_COLUMNS


def payments_drilldown(
    db: Db,
    filters: Filters | None = None,
    *,
    dimension: str | None = None,
    value: str | None = None,
    status: str | None = None,
    outcome: Outcome | None = None,
    error_reason: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """The newest `limit` (at most 1000) of `payments_drilldown_query(...)`'s payments."""
    if not 1 <= limit <= _DRILLDOWN_MAX:
        raise ValueError(f"limit must be between 1 and {_DRILLDOWN_MAX}")
    query = payments_drilldown_query(
        filters, dimension=dimension, value=value, status=status, outcome=outcome, error_reason=error_reason
    ).limit(limit)
    with reading(db) as conn:
        rows = conn.execute(query).all()
    if not rows:
        return _empty(_DRILLDOWN_COLUMNS)
    return pd.DataFrame([tuple(row) for row in rows], columns=list(_DRILLDOWN_COLUMNS))
