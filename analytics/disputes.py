"""Disputes: what finance must answer (open disputes, respond-by deadlines, money at stake per currency)
and how often payments are disputed, by method and card network (for managers).

Definitions (docs/metrics.md): an open dispute is one not yet won, lost or closed; it needs a response
while it is `open` or `action_required` (under review, the bank has the evidence). Dispute rate =
payments disputed / successful payments, both of payments created in the period (IST days).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Select, Table, case, func, select

from analytics.db import Db, as_int, as_utc, reading
from analytics.filters import UNKNOWN, Filters
from data.models import Dispute, Payment, PaymentRollupDaily
from data.vocabulary import DISPUTE_NEEDS_RESPONSE, DISPUTE_OPEN_STATUSES

__all__ = [
    "NEEDS_RESPONSE",
    "OPEN_STATUSES",
    "DisputeSummary",
    "dispute_rates",
    "dispute_summary",
    "open_disputes",
]

_D: Table = Dispute.__table__  # type: ignore[assignment]
_P: Table = Payment.__table__  # type: ignore[assignment]
_ROLLUP: Table = PaymentRollupDaily.__table__  # type: ignore[assignment]

OPEN_STATUSES = DISPUTE_OPEN_STATUSES
NEEDS_RESPONSE = DISPUTE_NEEDS_RESPONSE
RateDimension = Literal["method", "card_network"]
_OPEN_COLUMNS = [
    "id",
    "payment_id",
    "status",
    "phase",
    "reason_code",
    "amount",
    "currency",
    "respond_by",
    "hours_left",
    "needs_response",
    "created_at",
    "method",
    "card_network",
]


@dataclass(frozen=True)
class DisputeSummary:
    """Open disputes of one currency: how many, the money at stake, and how many need a response now."""

    currency: str
    open: int
    at_stake: int  # Σ amount of open disputes, minor units
    needs_response: int
    overdue: int  # needing a response and past respond_by
    due_within_48h: int


# What `open_disputes_query` selects, in order (`open_record` turns a row of them into `_OPEN_COLUMNS`).
OPEN_QUERY_COLUMNS = [
    "id",
    "payment_id",
    "status",
    "phase",
    "reason_code",
    "amount",
    "currency",
    "respond_by",
    "needs_response",
    "created_at",
    "method",
    "card_network",
]


def open_disputes_query() -> Select[Any]:
    """Every open dispute, the most urgent first (needing a response, then by respond-by)."""
    needs = _D.c.status.in_(NEEDS_RESPONSE)
    return (
        select(
            _D.c.id,
            _D.c.payment_id,
            _D.c.status,
            _D.c.phase,
            _D.c.reason_code,
            _D.c.amount,
            _D.c.currency,
            _D.c.respond_by,
            needs.label("needs_response"),
            _D.c.created_at,
            _P.c.method,
            _P.c.card_network,
        )
        .select_from(_D.outerjoin(_P, _P.c.id == _D.c.payment_id))
        .where(_D.c.status.in_(OPEN_STATUSES))
        .order_by(case((needs, 0), else_=1), _D.c.respond_by.is_(None), _D.c.respond_by, _D.c.id)
    )


def open_record(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One row of `open_disputes_query` as the table (and its CSV) shows it: hours left to respond, for
    a dispute that needs a response (one under review has had its evidence sent: its passed respond-by
    is not a deadline missed, and "-418 hours left" would say it was)."""
    respond_by = row["respond_by"]
    needs_response = bool(row["needs_response"])
    hours_left = (
        int((respond_by - as_utc(now)).total_seconds() // 3600)
        if respond_by is not None and needs_response
        else None
    )
    return {
        "id": row["id"],
        "payment_id": row["payment_id"],
        "status": row["status"],
        "phase": row["phase"],
        "reason_code": row["reason_code"],
        "amount": int(row["amount"]),
        "currency": row["currency"],
        "respond_by": respond_by,
        "hours_left": hours_left,
        "needs_response": needs_response,
        "created_at": row["created_at"],
        "method": row["method"] or UNKNOWN,
        "card_network": row["card_network"] or UNKNOWN,
    }


def open_disputes(db: Db, *, now: datetime, limit: int = 1000) -> pd.DataFrame:
    """Open disputes, the most urgent first: the first `limit` (`open_disputes_query` has them all)."""
    with reading(db) as conn:
        rows = conn.execute(open_disputes_query().limit(limit)).all()
    records = [open_record(dict(zip(OPEN_QUERY_COLUMNS, row, strict=True)), now) for row in rows]
    return pd.DataFrame.from_records(records, columns=_OPEN_COLUMNS)


def dispute_summary(db: Db, *, now: datetime) -> list[DisputeSummary]:
    """Per currency (never summed across currencies), INR first."""
    now = as_utc(now)
    needs = _D.c.status.in_(NEEDS_RESPONSE)
    soon = func.sum(
        case((needs & (_D.c.respond_by >= now) & (_D.c.respond_by < now + timedelta(hours=48)), 1), else_=0)
    )
    query = (
        select(
            _D.c.currency,
            func.count(),
            func.sum(_D.c.amount),
            func.sum(case((needs, 1), else_=0)),
            func.sum(case((needs & (_D.c.respond_by < now), 1), else_=0)),
            soon,
        )
        .where(_D.c.status.in_(OPEN_STATUSES))
        .group_by(_D.c.currency)
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    summaries = [
        DisputeSummary(
            currency=row[0],
            open=as_int(row[1]),
            at_stake=as_int(row[2]),
            needs_response=as_int(row[3]),
            overdue=as_int(row[4]),
            due_within_48h=as_int(row[5]),
        )
        for row in rows
    ]
    return sorted(summaries, key=lambda s: (s.currency != "INR", s.currency))


def dispute_rates(db: Db, by: RateDimension, filters: Filters | None = None) -> pd.DataFrame:
    """Payments disputed / successful payments per method or card network, payments created in the period.

    The denominator comes from the daily rollup (successes = ever authorized), the numerator from the
    disputes joined to their payments; columns: <by>, successes, disputed, rate (None without successes).
    """
    if by not in ("method", "card_network"):
        raise ValueError(f"dispute rates are by method or card_network, not {by!r}")
    filters = filters or Filters()
    if by == "method":
        key = _ROLLUP.c.method
        base = select(key.label("value"), func.sum(_ROLLUP.c.successes).label("successes")).where(
            _ROLLUP.c.dimension == "all"
        )
    else:
        key = _ROLLUP.c.dim_value
        base = select(key.label("value"), func.sum(_ROLLUP.c.successes).label("successes")).where(
            _ROLLUP.c.dimension == "card_network"
        )
    if filters.date_from is not None:
        base = base.where(_ROLLUP.c.ist_day >= filters.date_from)
    if filters.date_to is not None:
        base = base.where(_ROLLUP.c.ist_day <= filters.date_to)
    if filters.currency is not None:
        base = base.where(_ROLLUP.c.currency == filters.currency)
    if filters.method is not None:
        base = base.where(_ROLLUP.c.method == filters.method)
    base = base.group_by(key)

    payment_key = func.coalesce(_P.c[by], "")
    # Each disputed payment once; written as `id IN (disputes)` so the planner starts from the few
    # disputed payments (probing their ids) instead of walking the period's payments for disputes.
    disputed = select(payment_key.label("value"), func.count().label("disputed")).where(
        _P.c.id.in_(select(_D.c.payment_id))
    )
    start, end = filters.utc_range()
    if start is not None:
        disputed = disputed.where(_P.c.created_at >= start)
    if end is not None:
        disputed = disputed.where(_P.c.created_at < end)
    if filters.currency is not None:
        disputed = disputed.where(_P.c.currency == filters.currency)
    if filters.method is not None:
        disputed = disputed.where(_P.c.method == filters.method)
    disputed = disputed.group_by(payment_key)

    with reading(db) as conn:
        successes = {str(value): as_int(count) for value, count in conn.execute(base)}
        disputes = {str(value): as_int(count) for value, count in conn.execute(disputed)}
    records = []
    for value in sorted(set(successes) | set(disputes)):
        ok = successes.get(value, 0)
        hit = disputes.get(value, 0)
        records.append(
            {by: value or UNKNOWN, "successes": ok, "disputed": hit, "rate": hit / ok if ok else None}
        )
    frame = pd.DataFrame.from_records(records, columns=[by, "successes", "disputed", "rate"])
    return frame.sort_values(["disputed", by], ascending=[False, True], ignore_index=True)
