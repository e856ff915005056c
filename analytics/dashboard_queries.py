"""Settlements, payment look-up, sync freshness and quarantine queries for the dashboard pages.

ADDED BY THE DASHBOARD ENGINEER (issue 6): thin read-only queries the pages needed that analytics/README.md
did not cover yet. The analytics owner may move, rename or replace them; the pages reach them only through
dashboard/data.py. Money stays int minor units beside its currency; nothing is summed across currencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, Table, case, func, or_, select

from analytics.db import Db, as_int, reading, utcnow
from analytics.filters import Filters
from data.models import (
    Mismatch,
    Order,
    Payment,
    Quarantine,
    Refund,
    Settlement,
    SettlementLine,
    SyncRun,
    WebhookEvent,
)

__all__ = [
    "PaymentStory",
    "SettlementWaterfall",
    "find_payments",
    "payment_story",
    "pending_settlement",
    "quarantined_records",
    "settlement_lines",
    "settlement_waterfalls",
    "settlements",
    "sync_runs",
]

_LINES: Table = SettlementLine.__table__  # type: ignore[assignment]
_SETTLEMENTS: Table = Settlement.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
_MAX_ROWS = 1000

PAYMENT_COLUMNS = [
    "id",
    "created_at",
    "amount",
    "currency",
    "status",
    "method",
    "order_id",
    "email",
    "contact",
    "country",
    "country_source",
    "bank",
    "card_network",
    "wallet",
    "upi_app",
    "amount_refunded",
    "fee",
    "tax",
    "error_source",
    "error_step",
    "error_reason",
    "error_description",
]


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(row) for row in rows], columns=list(columns))


def _in_period(query: Select[Any], column: Any, filters: Filters | None) -> Select[Any]:
    if filters is None:
        return query
    start, end = filters.utc_range()
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


# --- settlements -----------------------------------------------------------------------------------


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
    in_period = _in_period(select(_SETTLEMENTS.c.id), _SETTLEMENTS.c.created_at, filters)
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
        .where(lines.settled.is_(True), lines.settlement_id.in_(in_period))
        .group_by(lines.currency)
        .order_by(lines.currency)
    )
    if filters is not None and filters.currency:
        query = query.where(lines.currency == filters.currency.upper())
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
    in_period = _in_period(select(s.id), s.created_at, filters)
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
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(min(limit, _MAX_ROWS))
    )
    query = _in_period(query, s.created_at, filters)
    if filters is not None and filters.currency:
        query = query.where(s.currency == filters.currency.upper())
    with reading(db) as conn:
        rows = conn.execute(query).all()
    frame = _frame(rows, SETTLEMENT_COLUMNS[:-1])
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


def settlement_lines(db: Db, settlement_id: str, *, limit: int = _MAX_ROWS) -> pd.DataFrame:
    """The recon lines of one settlement (drill-down), largest amount first."""
    lines = _LINES.c
    query = (
        select(*(lines[name] for name in LINE_COLUMNS))
        .where(lines.settlement_id == settlement_id)
        .order_by(lines.amount.desc(), lines.entity_id)
        .limit(min(limit, _MAX_ROWS))
    )
    with reading(db) as conn:
        return _frame(conn.execute(query).all(), LINE_COLUMNS)


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
    has_line = select(lines.entity_id).where(lines.type == "payment", lines.payment_id == p.id).exists()
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
        .where(p.status.in_(("captured", "refunded")), ~has_line)
        .group_by(p.currency, bucket)
        .having(payments > 0)
    )
    query = _in_period(query, p.created_at, filters)
    if filters is not None and filters.currency:
        query = query.where(p.currency == filters.currency.upper())
    with reading(db) as conn:
        rows = conn.execute(query).all()
    order = {label: index for index, (label, _, _) in enumerate(_AGE_BUCKETS)}
    frame = _frame(rows, PENDING_COLUMNS)
    frame["payments"] = [as_int(v) for v in frame["payments"]]
    frame["amount"] = [as_int(v) for v in frame["amount"]]
    frame["_order"] = [order.get(str(age), 99) for age in frame["age"]]
    return frame.sort_values(["currency", "_order"]).drop(columns="_order").reset_index(drop=True)


# --- one payment's story ---------------------------------------------------------------------------


def find_payments(db: Db, text: str, *, limit: int = 50) -> pd.DataFrame:
    """Payments matching a payment, order, refund or settlement id, an email or a phone (exact match;
    a phone also matches without its +country prefix). Newest first."""
    needle = text.strip()
    if not needle:
        return _frame([], PAYMENT_COLUMNS)
    p = _PAYMENTS.c
    refund_payment = select(Refund.payment_id).where(Refund.id == needle)
    line_payment = select(SettlementLine.payment_id).where(
        or_(SettlementLine.settlement_id == needle, SettlementLine.entity_id == needle)
    )
    digits = needle.lstrip("+")
    query = (
        select(*(p[name] for name in PAYMENT_COLUMNS))
        .where(
            or_(
                p.id == needle,
                p.order_id == needle,
                # Plain IN lists keep each branch on its index (no lower() over a million emails).
                p.email.in_(sorted({needle, needle.lower()})),
                p.contact.in_(sorted({needle, f"+{digits}", f"+91{digits}"})),
                p.id.in_(refund_payment),
                p.id.in_(line_payment),
            )
        )
        .order_by(p.created_at.desc(), p.id.desc())
        .limit(min(limit, _MAX_ROWS))
    )
    with reading(db) as conn:
        return _frame(conn.execute(query).all(), PAYMENT_COLUMNS)


@dataclass(frozen=True)
class PaymentStory:
    """Everything payops knows about one payment, for the Payments page's timeline."""

    payment: dict[str, Any]
    order: dict[str, Any] | None
    refunds: pd.DataFrame  # id, amount, currency, status, created_at, state_at
    webhook_events: (
        pd.DataFrame
    )  # event_id, event_type, entity_status, created_at, received_at, lag_ms, delivery_count, applied
    settlement_lines: pd.DataFrame  # LINE_COLUMNS + settlement_id
    settlements: pd.DataFrame  # id, status, amount, currency, utr, created_at
    mismatches: pd.DataFrame  # id, rule, severity, status, explanation, first_seen_at
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)  # at, what, detail, source


def _row(conn: Any, query: Any) -> dict[str, Any] | None:
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def payment_story(db: Db, payment_id: str) -> PaymentStory | None:
    with reading(db) as conn:
        payment = _row(
            conn,
            select(*(_PAYMENTS.c[name] for name in PAYMENT_COLUMNS), Payment.state_at, Payment.source).where(
                Payment.id == payment_id
            ),
        )
        if payment is None:
            return None
        order = None
        if payment["order_id"]:
            order = _row(
                conn,
                select(
                    Order.id,
                    Order.status,
                    Order.amount,
                    Order.amount_paid,
                    Order.currency,
                    Order.attempts,
                    Order.receipt,
                    Order.created_at,
                ).where(Order.id == payment["order_id"]),
            )
        refund_cols = ["id", "amount", "currency", "status", "created_at", "state_at"]
        refunds = _frame(
            conn.execute(
                select(
                    Refund.id,
                    Refund.amount,
                    Refund.currency,
                    Refund.status,
                    Refund.created_at,
                    Refund.state_at,
                )
                .where(Refund.payment_id == payment_id)
                .order_by(Refund.created_at)
            ).all(),
            refund_cols,
        )
        refund_ids = list(refunds["id"])
        event_cols = [
            "event_id",
            "event_type",
            "entity_status",
            "created_at",
            "received_at",
            "lag_ms",
            "delivery_count",
            "applied",
        ]
        events = _frame(
            conn.execute(
                select(
                    WebhookEvent.event_id,
                    WebhookEvent.event_type,
                    WebhookEvent.entity_status,
                    WebhookEvent.created_at,
                    WebhookEvent.received_at,
                    WebhookEvent.lag_ms,
                    WebhookEvent.delivery_count,
                    WebhookEvent.applied,
                )
                .where(
                    or_(WebhookEvent.payment_id == payment_id, WebhookEvent.refund_id.in_(refund_ids or [""]))
                )
                .order_by(WebhookEvent.created_at)
                .limit(_MAX_ROWS)
            ).all(),
            event_cols,
        )
        lines = _frame(
            conn.execute(
                select(*(_LINES.c[name] for name in LINE_COLUMNS), _LINES.c.settlement_id)
                .where(
                    or_(_LINES.c.payment_id == payment_id, _LINES.c.entity_id.in_([payment_id, *refund_ids]))
                )
                .order_by(_LINES.c.created_at)
            ).all(),
            [*LINE_COLUMNS, "settlement_id"],
        )
        settlement_ids = sorted({str(s) for s in lines["settlement_id"] if s})
        settlement_rows = _frame(
            conn.execute(
                select(
                    Settlement.id,
                    Settlement.status,
                    Settlement.amount,
                    Settlement.currency,
                    Settlement.utr,
                    Settlement.created_at,
                ).where(Settlement.id.in_(settlement_ids or [""]))
            ).all(),
            ["id", "status", "amount", "currency", "utr", "created_at"],
        )
        mismatch_rows = _frame(
            conn.execute(
                select(
                    Mismatch.id,
                    Mismatch.rule,
                    Mismatch.severity,
                    Mismatch.status,
                    Mismatch.explanation,
                    Mismatch.first_seen_at,
                )
                .where(or_(Mismatch.payment_id == payment_id, Mismatch.refund_id.in_(refund_ids or [""])))
                .order_by(Mismatch.first_seen_at)
            ).all(),
            ["id", "rule", "severity", "status", "explanation", "first_seen_at"],
        )
    timeline: list[dict[str, Any]] = [
        {
            "at": payment["created_at"],
            "what": "Payment created",
            "detail": f"{payment['method']}",
            "source": "api",
        },
        {
            "at": payment["state_at"],
            "what": f"Status {payment['status']}",
            "detail": "latest state seen",
            "source": payment["source"],
        },
    ]
    timeline += [
        {
            "at": e["created_at"],
            "what": f"Webhook {e['event_type']}",
            "detail": f"{e['entity_status'] or ''}; received after {e['lag_ms']} ms; delivered {e['delivery_count']}×",
            "source": "webhook",
        }
        for e in events.to_dict("records")
    ]
    timeline += [
        {"at": r["created_at"], "what": f"Refund {r['id']}", "detail": str(r["status"]), "source": "api"}
        for r in refunds.to_dict("records")
    ]
    timeline += [
        {
            "at": line["settled_at"],
            "what": f"Settled ({line['type']} line)",
            "detail": str(line["settlement_id"]),
            "source": "recon",
        }
        for line in lines.to_dict("records")
        if line["settled_at"] is not None and not pd.isna(line["settled_at"])
    ]
    timeline += [
        {
            "at": m["first_seen_at"],
            "what": f"Mismatch {m['rule']}",
            "detail": str(m["status"]),
            "source": "reconcile",
        }
        for m in mismatch_rows.to_dict("records")
    ]
    return PaymentStory(
        payment=payment,
        order=order,
        refunds=refunds,
        webhook_events=events,
        settlement_lines=lines,
        settlements=settlement_rows,
        mismatches=mismatch_rows,
        timeline=pd.DataFrame(timeline).sort_values("at", kind="stable").reset_index(drop=True),
    )


# --- sync freshness, runs, quarantine --------------------------------------------------------------

RUN_COLUMNS = ["id", "started_at", "finished_at", "status", "trigger", "upserted", "quarantined", "error"]


def sync_runs(db: Db, *, limit: int = 20) -> pd.DataFrame:
    """The latest sync runs, newest first, with rows upserted and quarantined summed over entities."""
    with reading(db) as conn:
        rows = conn.execute(
            select(
                SyncRun.id,
                SyncRun.started_at,
                SyncRun.finished_at,
                SyncRun.status,
                SyncRun.trigger,
                SyncRun.counts,
                SyncRun.error,
            )
            .order_by(SyncRun.id.desc())
            .limit(min(limit, _MAX_ROWS))
        ).all()
    out = []
    for r in rows:
        counts = r.counts or {}
        upserted = sum(as_int(c.get("upserted")) for c in counts.values() if isinstance(c, dict))
        quarantined = sum(as_int(c.get("quarantined")) for c in counts.values() if isinstance(c, dict))
        out.append((r.id, r.started_at, r.finished_at, r.status, r.trigger, upserted, quarantined, r.error))
    return _frame(out, RUN_COLUMNS)


QUARANTINE_COLUMNS = [
    "id",
    "entity",
    "entity_id",
    "reason",
    "source",
    "first_seen_at",
    "last_seen_at",
    "run_id",
    "raw",
]


def quarantined_records(db: Db, *, limit: int = 200) -> pd.DataFrame:
    """Records that could not be stored, most recently seen first (raw text already scrubbed by sync)."""
    with reading(db) as conn:
        rows = conn.execute(
            select(*(Quarantine.__table__.c[name] for name in QUARANTINE_COLUMNS))
            .order_by(Quarantine.last_seen_at.desc(), Quarantine.id.desc())
            .limit(min(limit, _MAX_ROWS))
        ).all()
    return _frame(rows, QUARANTINE_COLUMNS)
