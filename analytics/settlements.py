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
    "SettlementTotals",
    "SettlementWaterfall",
    "pending_settlement",
    "settlement_lines",
    "settlement_totals",
    "settlement_waterfalls",
    "settlements",
    "settlements_query",
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
    # Summed per settlement first, in the index's own order (settlement_id, settled, currency), so no
    # line is sorted; grouping a month's million lines by currency directly sorts every one of them.
    per_settlement = (
        select(
            lines.currency.label("currency"),
            func.sum(case((is_payment, lines.amount), else_=0)).label("gross"),
            func.sum(lines.fee - lines.tax).label("fees"),
            func.sum(lines.tax).label("tax"),
            func.sum(case((is_refund, lines.debit), else_=0)).label("refunds"),
            func.sum(case((is_adjustment, lines.credit - lines.debit), else_=0)).label("adjustments"),
            func.sum(lines.credit - lines.debit).label("net"),
            func.count().label("lines"),
        )
        .where(
            lines.settled.is_(True),
            lines.settlement_id.in_(in_period),
            *conditions(filters, currency=lines.currency),
        )
        .group_by(lines.settlement_id, lines.currency)
        .subquery()
    )
    sums = per_settlement.c
    query = (
        select(
            sums.currency,
            func.sum(sums.gross),
            func.sum(sums.fees),
            func.sum(sums.tax),
            func.sum(sums.refunds),
            func.sum(sums.adjustments),
            func.sum(sums.net),
            func.sum(sums.lines),
            func.count(),
        )
        .group_by(sums.currency)
        .order_by(sums.currency)
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


def settlements_query(
    filters: Filters | None = None, *, currency: str | None = None, not_adding_up: bool = False
) -> Select[Any]:
    """Settlements created in the period (in `currency`, if given; only those whose amount ≠ their lines'
    net, if asked), newest first, as `SETTLEMENT_COLUMNS`: lines and lines_net from their recon lines,
    difference = amount − lines_net (non-zero: the settlement does not add up)."""
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
    lines_net = func.coalesce(per_settlement.c.lines_net, 0)
    difference = s.amount - lines_net
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
            func.coalesce(per_settlement.c.lines, 0).label("lines"),
            lines_net.label("lines_net"),
            difference.label("difference"),
        )
        .select_from(_SETTLEMENTS.outerjoin(per_settlement, per_settlement.c.settlement_id == s.id))
        .where(*conditions(filters, at=s.created_at, currency=s.currency))
        .order_by(s.created_at.desc(), s.id.desc())
    )
    if currency is not None:
        query = query.where(s.currency == currency)
    if not_adding_up:
        query = query.where(difference != 0)
    return query


def settlements(
    db: Db,
    filters: Filters | None = None,
    *,
    limit: int = 500,
    currency: str | None = None,
    not_adding_up: bool = False,
) -> pd.DataFrame:
    """The first `limit` of `settlements_query` (see `settlement_totals` for how many there are)."""
    query = settlements_query(filters, currency=currency, not_adding_up=not_adding_up)
    with reading(db) as conn:
        rows = conn.execute(query.limit(min(limit, MAX_ROWS))).all()
    frame = as_frame(rows, SETTLEMENT_COLUMNS)
    for column in ("amount", "fees", "tax", "lines", "lines_net", "difference"):
        frame[column] = [as_int(v) for v in frame[column]]
    return frame


@dataclass(frozen=True)
class SettlementTotals:
    """One currency's settlements created in the period, counted and summed in SQL (whatever a table
    lists): how many, their payouts (Σ amount, minor units) and how many do not add up to their lines."""

    currency: str
    settlements: int
    payout: int
    not_adding_up: int


def settlement_totals(db: Db, filters: Filters | None = None) -> dict[str, SettlementTotals]:
    """`SettlementTotals` per currency (never summed across currencies)."""
    listed = settlements_query(filters).order_by(None).subquery()
    query = (
        select(
            listed.c.currency,
            func.count(),
            func.sum(listed.c.amount),
            func.count(case((listed.c.difference != 0, 1))),
        )
        .group_by(listed.c.currency)
        .order_by(listed.c.currency)
    )
    with reading(db) as conn:
        rows = conn.execute(query).all()
    return {
        str(row[0]): SettlementTotals(str(row[0]), as_int(row[1]), as_int(row[2]), as_int(row[3]))
        for row in rows
    }


def _totals_of(listed: pd.DataFrame) -> dict[str, SettlementTotals]:
    """`settlement_totals` of a list that holds every settlement of the period (the same figures,
    without reading the period's lines a second time)."""
    return {
        str(currency): SettlementTotals(
            str(currency),
            len(group),
            sum(as_int(v) for v in group["amount"]),
            sum(1 for v in group["difference"] if as_int(v) != 0),
        )
        for currency, group in sorted(listed.groupby("currency"), key=lambda item: str(item[0]))
    }


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
    settlements: pd.DataFrame  # the first of them; `totals` counts them all
    pending: pd.DataFrame
    totals: dict[str, SettlementTotals]


def settlements_page(
    db: Db, filters: Filters | None = None, *, now: datetime | None = None
) -> SettlementsPage:
    """What the Settlements page reads, its heavy reads side by side: the period's waterfalls,
    settlements and their totals per currency, and every capture still waiting to settle by age (a
    question about now, whatever the period: a one-day period would otherwise only ever show the
    youngest bucket)."""
    filters = filters or Filters()
    waiting = replace(filters, date_from=None, date_to=None)
    limit = 500
    waterfalls, listed, pending = side_by_side(
        db,
        lambda conn: settlement_waterfalls(conn, filters),
        lambda conn: settlements(conn, filters, limit=limit),
        lambda conn: pending_settlement(conn, waiting, now=now),
    )
    # A list shorter than its limit is every settlement of the period: its totals are exact as they are.
    totals = _totals_of(listed) if len(listed) < limit else settlement_totals(db, filters)
    return SettlementsPage(waterfalls=waterfalls, settlements=listed, pending=pending, totals=totals)
