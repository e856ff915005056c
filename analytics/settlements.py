"""Settlements for finance: the gross → net waterfall per currency, each settlement against its recon
lines, one settlement's lines, and captured money still waiting for a settlement.

Money stays int minor units beside its currency; nothing is summed across currencies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, Table, case, func, select

from analytics.db import MAX_ROWS, Db, as_frame, as_int, reading, side_by_side, utcnow
from analytics.filters import Filters, conditions
from analytics.listing import Listing, listing
from data.models import Payment, Settlement, SettlementLine
from data.vocabulary import CAPTURED_STATUSES

__all__ = [
    "LINE_COLUMNS",
    "PENDING_COLUMNS",
    "SETTLEMENT_COLUMNS",
    "SettlementWaterfall",
    "pending_settlement",
    "settlement_lines",
    "settlement_waterfalls",
    "settlements",
]

_LINES: Table = SettlementLine.__table__  # type: ignore[assignment]
_SETTLEMENTS: Table = Settlement.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class SettlementWaterfall:
    """Gross → fees → tax → refunds → adjustments → net for one currency, from settled recon lines.

    gross = Σ payment-line amount; fees = Σ (fee − tax) and tax = Σ tax over all lines (Razorpay's fee
    includes GST); refunds = Σ refund-line debit; adjustments = Σ (credit − debit) of adjustment and
    transfer lines; net = Σ (credit − debit) of every line. `unexplained` = net − the steps (0 when the
    lines add up)."""

    currency: str
    gross: int
    fees: int
    tax: int
    refunds: int
    adjustments: int
    net: int
    lines: int
    settlements: int

    @property
    def unexplained(self) -> int:
        return self.net - (self.gross - self.fees - self.tax - self.refunds + self.adjustments)

    def steps(self) -> list[tuple[str, int]]:
        """Signed amounts for a waterfall chart: first the gross, last the net."""
        steps = [
            ("Gross", self.gross),
            ("Fees", -self.fees),
            ("Tax (GST)", -self.tax),
            ("Refunds", -self.refunds),
            ("Adjustments", self.adjustments),
        ]
        if self.unexplained:
            steps.append(("Unexplained", self.unexplained))
        return [*steps, ("Net settled", self.net)]


def settlement_waterfalls(db: Db, filters: Filters | None = None) -> list[SettlementWaterfall]:
    """One waterfall per currency over the settled lines of the settlements created in the period (IST days)."""
    lines = _LINES.c
    is_payment = lines.type == "payment"
    is_refund = lines.type == "refund"
    is_adjustment = lines.type.in_(("adjustment", "transfer"))
    # Lines of the settlements created in the period: both steps use an index (settlements.created_at,
    # settlement_lines.settlement_id), where filtering lines on settled_at would scan them all.
    in_period = select(_SETTLEMENTS.c.id).where(*conditions(filters, at=_SETTLEMENTS.c.created_at))
    query = (
        select(
            lines.currency,
            func.sum(case((is_payment, lines.amount), else_=0)),
            func.sum(lines.fee - lines.tax),
            func.sum(lines.tax),
            func.sum(case((is_refund, lines.debit), else_=0)),
            func.sum(case((is_adjustment, lines.credit - lines.debit), else_=0)),
            func.sum(lines.credit - lines.debit),
            func.count(),
            func.count(func.distinct(lines.settlement_id)),
        )
        .where(
            lines.settled.is_(True),
            lines.settlement_id.in_(in_period),
            *conditions(filters, currency=lines.currency),
        )
        .group_by(lines.currency)
        .order_by(lines.currency)
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    return [
        SettlementWaterfall(
            currency=str(row[0]),
            gross=as_int(row[1]),
            fees=as_int(row[2]),
            tax=as_int(row[3]),
            refunds=as_int(row[4]),
            adjustments=as_int(row[5]),
            net=as_int(row[6]),
            lines=as_int(row[7]),
            settlements=as_int(row[8]),
        )
        for row in rows
    ]


SETTLEMENT_COLUMNS = [
    "id",
    "created_at",
    "status",
    "utr",
    "currency",
    "amount",
    "fees",
    "tax",
    "lines",
    "lines_net",
    "difference",
]


def settlements(db: Db, filters: Filters | None = None, *, limit: int = 500) -> pd.DataFrame:
    """Settlements created in the period, newest first, with their lines' net and the difference
    (settlement amount − Σ line credit − debit; non-zero means the settlement does not add up)."""
    s, lines = _SETTLEMENTS.c, _LINES.c
    # Only the lines of the settlements in the period (settlement_lines.settlement_id index), not every
    # line ever synced grouped and then mostly thrown away by the join.
    in_period = select(s.id).where(*conditions(filters, at=s.created_at))
    per_settlement = (
        select(
            lines.settlement_id.label("settlement_id"),
            func.count().label("lines"),
            func.sum(lines.credit - lines.debit).label("lines_net"),
        )
        .where(lines.settlement_id.in_(in_period))
        .group_by(lines.settlement_id)
        .subquery()
    )
    query: Select[Any] = (
        select(
            s.id,
            s.created_at,
            s.status,
            s.utr,
            s.currency,
            s.amount,
            s.fees,
            s.tax,
            func.coalesce(per_settlement.c.lines, 0),
            func.coalesce(per_settlement.c.lines_net, 0),
        )
        .select_from(_SETTLEMENTS.outerjoin(per_settlement, per_settlement.c.settlement_id == s.id))
        .where(*conditions(filters, at=s.created_at, currency=s.currency))
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(min(limit, MAX_ROWS))
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    frame = as_frame(rows, SETTLEMENT_COLUMNS[:-1])
    for column in ("amount", "fees", "tax", "lines", "lines_net"):
        frame[column] = [as_int(v) for v in frame[column]]
    frame["difference"] = frame["amount"] - frame["lines_net"]
    return frame


LINE_COLUMNS = [
    "entity_id",
    "type",
    "payment_id",
    "order_id",
    "amount",
    "fee",
    "tax",
    "credit",
    "debit",
    "currency",
    "settled_at",
    "method",
    "card_network",
]


def settlement_lines_query(settlement_id: str) -> Select[Any]:
    """Every recon line of one settlement, largest amount first (the table's and the CSV's order)."""
    lines = _LINES.c
    return (
        select(*(lines[name] for name in LINE_COLUMNS))
        .where(lines.settlement_id == settlement_id)
        .order_by(lines.amount.desc(), lines.entity_id)
    )


def settlement_lines(db: Db, settlement_id: str, *, limit: int = MAX_ROWS) -> Listing:
    """The recon lines of one settlement (drill-down): their true count and the first `limit`; the
    export streams all of them (`stream_rows(db, settlement_lines_query(id), LINE_COLUMNS)`)."""
    return listing(db, settlement_lines_query(settlement_id), LINE_COLUMNS, first=limit)


PENDING_COLUMNS = ["currency", "age", "payments", "amount"]
_AGE_BUCKETS = (("0–1 days", 0, 2), ("2–3 days", 2, 4), ("4–7 days", 4, 8), ("over 7 days", 8, None))


def pending_settlement(
    db: Db, filters: Filters | None = None, *, now: datetime | None = None
) -> pd.DataFrame:
    """Captured payments with no payment line in any settlement yet, by currency and age since capture
    (created_at), with their count and amount. Razorpay settles T+2/T+3 business days, so only the older
    buckets are worrying."""
    now = now or utcnow()
    p, lines = _PAYMENTS.c, _LINES.c
    has_line = select(lines.payment_id).where(lines.type == "payment", lines.payment_id == p.id).exists()
    age_days = []
    for label, low, high in _AGE_BUCKETS:
        condition = p.created_at <= now - pd.Timedelta(days=low).to_pytimedelta()
        if high is not None:
            condition = condition & (p.created_at > now - pd.Timedelta(days=high).to_pytimedelta())
        age_days.append((condition, label))
    bucket = case(*age_days, else_="future")
    # `captured` is tested in the aggregates, not in WHERE: there it would read every payment's row before
    # the anti-join (answered from the indexes alone) discards the settled ones; this way only payments
    # without a line are read, and those are read for their currency and amount anyway. (A `refunded`
    # payment that was never captured, auto-refunded after authorisation, has nothing to settle.)
    captured = p.captured.is_(True)
    payments = func.count(case((captured, 1)))
    query = (
        select(p.currency, bucket, payments, func.sum(case((captured, p.amount))))
        .where(
            p.status.in_(CAPTURED_STATUSES),
            ~has_line,
            *conditions(filters, at=p.created_at, currency=p.currency),
        )
        .group_by(p.currency, bucket)
        .having(payments > 0)
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    order = {label: index for index, (label, _, _) in enumerate(_AGE_BUCKETS)}
    frame = as_frame(rows, PENDING_COLUMNS)
    frame["payments"] = [as_int(v) for v in frame["payments"]]
    frame["amount"] = [as_int(v) for v in frame["amount"]]
    frame["_order"] = [order.get(str(age), 99) for age in frame["age"]]
    return frame.sort_values(["currency", "_order"]).drop(columns="_order").reset_index(drop=True)


@dataclass(frozen=True)
class SettlementsPage:
    waterfalls: list[SettlementWaterfall]
    settlements: pd.DataFrame
    pending: pd.DataFrame


def settlements_page(
    db: Db, filters: Filters | None = None, *, now: datetime | None = None
) -> SettlementsPage:
    """What the Settlements page reads, its three heavy reads side by side: the period's waterfalls and
    settlements, and every capture still waiting to settle by age (a question about now, whatever the
    period: a one-day period would otherwise only ever show the youngest bucket)."""
    filters = filters or Filters()
    waiting = replace(filters, date_from=None, date_to=None)
    waterfalls, listed, pending = side_by_side(
        db,
        lambda conn: settlement_waterfalls(conn, filters),
        lambda conn: settlements(conn, filters),
        lambda conn: pending_settlement(conn, waiting, now=now),
    )
    return SettlementsPage(waterfalls=waterfalls, settlements=listed, pending=pending)
