"""Order-level success: of the orders a customer attempted, how many were eventually paid, after how many
attempts, by the first attempt's method (a customer who fails on a card and pays by UPI is a saved sale).

Definitions (docs/metrics.md): an order is *attempted* when one of its payments reached the gateway
(status ≠ created); it is *paid* when one of its attempts succeeded (authorized | captured | refunded);
*attempts to pay* counts the attempts up to and including the first success, in created_at order.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy import Table, case, func, select

from analytics.db import Db, as_int, reading
from analytics.filters import Filters
from data.models import Payment
from data.vocabulary import SUCCESS_STATUSES

__all__ = ["ORDER_COLUMNS", "RETRY_LOOKAROUND", "order_success"]

_P: Table = Payment.__table__  # type: ignore[assignment]
# An order's attempts are read this far either side of the period, so an order first attempted in the
# period keeps its later retries, and one first attempted just before it is not counted in it.
RETRY_LOOKAROUND = timedelta(days=1)
ORDER_COLUMNS = [
    "first_method",
    "orders_attempted",
    "orders_paid",
    "order_success_rate",
    "paid_first_attempt",
    "paid_after_retry",
    "paid_by_other_method",
    "avg_attempts_to_pay",
    "attempts",
    "attempt_successes",
    "attempt_success_rate",
]


def order_success(db: Db, filters: Filters | None = None) -> pd.DataFrame:
    """One row per first-attempt method plus an "all" row: orders attempted → paid, and the attempt-level
    rate of the same orders' payments for comparison. Orders count in the period of their first attempt."""
    filters = filters or Filters()
    start, end = filters.utc_range()
    p = _P.c
    conditions = [p.order_id.is_not(None), p.status != "created"]
    if start is not None:
        conditions.append(p.created_at >= start - RETRY_LOOKAROUND)
    if end is not None:
        conditions.append(p.created_at < end + RETRY_LOOKAROUND)
    if filters.currency:
        conditions.append(p.currency == filters.currency.upper())
    success = p.status.in_(SUCCESS_STATUSES)
    attempts = (
        select(
            p.order_id,
            func.coalesce(p.method, "unknown").label("method"),
            p.created_at,
            case((success, 1), else_=0).label("succeeded"),
            func.row_number().over(partition_by=p.order_id, order_by=(p.created_at, p.id)).label("n"),
        )
        .where(*conditions)
        .cte("attempts")
    )
    a = attempts.c
    first = select(a.order_id, a.method.label("first_method"), a.created_at).where(a.n == 1).cte("first")
    first_paid = (
        select(a.order_id, func.min(a.n).label("paid_at"))
        .where(a.succeeded == 1)
        .group_by(a.order_id)
        .cte("paid")
    )
    paid_method = (
        select(a.order_id, a.method.label("paid_method"))
        .join(first_paid, (first_paid.c.order_id == a.order_id) & (first_paid.c.paid_at == a.n))
        .cte("paid_method")
    )
    per_order = (
        select(
            a.order_id,
            func.count().label("attempts"),
            func.sum(a.succeeded).label("attempt_successes"),
        )
        .group_by(a.order_id)
        .cte("per_order")
    )
    f = first.c
    paid_at = first_paid.c.paid_at
    query = select(
        f.first_method,
        func.count().label("orders_attempted"),
        func.count(paid_at).label("orders_paid"),
        func.sum(case((paid_at == 1, 1), else_=0)).label("paid_first_attempt"),
        func.sum(case((paid_at >= 2, 1), else_=0)).label("paid_after_retry"),
        func.sum(case((paid_method.c.paid_method != f.first_method, 1), else_=0)).label(
            "paid_by_other_method"
        ),
        func.sum(paid_at).label("attempts_to_pay"),
        func.sum(per_order.c.attempts).label("attempts"),
        func.sum(per_order.c.attempt_successes).label("attempt_successes"),
    ).select_from(
        first.outerjoin(first_paid, first_paid.c.order_id == f.order_id)
        .outerjoin(paid_method, paid_method.c.order_id == f.order_id)
        .join(per_order, per_order.c.order_id == f.order_id)
    )
    if start is not None:
        query = query.where(f.created_at >= start)
    if end is not None:
        query = query.where(f.created_at < end)
    if filters.method:
        query = query.where(f.first_method == filters.method.lower())
    query = query.group_by(f.first_method).order_by(func.count().desc(), f.first_method)
    with reading(db) as conn:
        rows = [
            {
                "first_method": str(row.first_method),
                **{
                    name: as_int(getattr(row, name))
                    for name in (
                        "orders_attempted",
                        "orders_paid",
                        "paid_first_attempt",
                        "paid_after_retry",
                        "paid_by_other_method",
                        "attempts_to_pay",
                        "attempts",
                        "attempt_successes",
                    )
                },
            }
            for row in conn.execute(query)
        ]
    if not rows:
        return pd.DataFrame(columns=ORDER_COLUMNS)
    frame = pd.DataFrame(rows)
    total = frame.drop(columns=["first_method"]).sum()
    frame = pd.concat([frame, pd.DataFrame([{"first_method": "all", **total.to_dict()}])], ignore_index=True)
    frame["order_success_rate"] = frame["orders_paid"] / frame["orders_attempted"]
    frame["attempt_success_rate"] = frame["attempt_successes"] / frame["attempts"]
    frame["avg_attempts_to_pay"] = (frame["attempts_to_pay"] / frame["orders_paid"]).where(
        frame["orders_paid"] > 0
    )
    return frame[ORDER_COLUMNS]
