"""One payment's story for the Payments page: find payments by any id, email or phone, then gather
everything payops knows about one of them (order, refunds, webhooks, settlement lines, mismatches)
into a timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, Table, or_, select

from analytics.db import MAX_ROWS, Db, as_frame, reading
from analytics.listing import Listing, listing
from analytics.settlements import LINE_COLUMNS
from data.durations import duration_text
from data.models import Mismatch, Order, Payment, Refund, Settlement, SettlementLine, WebhookEvent

__all__ = ["PAYMENT_COLUMNS", "PaymentStory", "find_payments", "payment_story"]

_LINES: Table = SettlementLine.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]

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
_ORDER_COLUMNS = ("id", "status", "amount", "amount_paid", "currency", "attempts", "receipt", "created_at")
_REFUND_COLUMNS = ["id", "amount", "currency", "status", "created_at", "state_at"]
_EVENT_COLUMNS = [
    "event_id",
    "event_type",
    "entity_status",
    "created_at",
    "received_at",
    "lag_ms",
    "delivery_count",
    "applied",
]
_STORY_LINE_COLUMNS = [*LINE_COLUMNS, "settlement_id"]
_SETTLEMENT_COLUMNS = ["id", "status", "amount", "currency", "utr", "created_at"]
_MISMATCH_COLUMNS = ["id", "rule", "severity", "status", "explanation", "first_seen_at"]


def find_payments_query(text: str) -> Select[Any]:
    """Payments matching a payment, order, refund or settlement id, an email or a phone (exact match;
    a phone also matches without its +country prefix). Newest first."""
    needle = text.strip()
    p = _PAYMENTS.c
    refund_payment = select(Refund.payment_id).where(Refund.id == needle)
    line_payment = select(SettlementLine.payment_id).where(
        or_(SettlementLine.settlement_id == needle, SettlementLine.entity_id == needle)
    )
    digits = needle.lstrip("+")
    return (
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
    )


def find_payments(db: Db, text: str, *, limit: int = 50) -> Listing:
    """The payments `find_payments_query(text)` matches: the true count and the newest `limit`."""
    if not text.strip():
        return Listing(total=0, first=as_frame([], PAYMENT_COLUMNS))
    return listing(db, find_payments_query(text), PAYMENT_COLUMNS, first=min(limit, MAX_ROWS))


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


def _received(lag_ms: Any) -> str:
    """`received 2.8 s after` (the event's creation); `received` alone when the lag is unknown."""
    if lag_ms is None or pd.isna(lag_ms):
        return "received"
    return f"received {duration_text(float(lag_ms))} after"


def _one(conn: Connection, query: Any) -> dict[str, Any] | None:
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _or_nothing(ids: Sequence[str]) -> list[str]:
    # IN () is not valid SQL everywhere; "" matches no id.
    return list(ids) or [""]


def _payment(conn: Connection, payment_id: str) -> dict[str, Any] | None:
    columns = (*(_PAYMENTS.c[name] for name in PAYMENT_COLUMNS), Payment.state_at, Payment.source)
    return _one(conn, select(*columns).where(Payment.id == payment_id))


def _order(conn: Connection, order_id: str | None) -> dict[str, Any] | None:
    if not order_id:
        return None
    columns = (Order.__table__.c[name] for name in _ORDER_COLUMNS)
    return _one(conn, select(*columns).where(Order.id == order_id))


def _refunds(conn: Connection, payment_id: str) -> pd.DataFrame:
    query = (
        select(*(Refund.__table__.c[name] for name in _REFUND_COLUMNS))
        .where(Refund.payment_id == payment_id)
        .order_by(Refund.created_at)
    )
    return as_frame(conn.execute(query).all(), _REFUND_COLUMNS)


def _webhook_events(conn: Connection, payment_id: str, refund_ids: Sequence[str]) -> pd.DataFrame:
    query = (
        select(*(WebhookEvent.__table__.c[name] for name in _EVENT_COLUMNS))
        .where(
            or_(WebhookEvent.payment_id == payment_id, WebhookEvent.refund_id.in_(_or_nothing(refund_ids)))
        )
        .order_by(WebhookEvent.created_at)
        .limit(MAX_ROWS)
    )
    return as_frame(conn.execute(query).all(), _EVENT_COLUMNS)


def _settlement_lines(conn: Connection, payment_id: str, refund_ids: Sequence[str]) -> pd.DataFrame:
    query = (
        select(*(_LINES.c[name] for name in _STORY_LINE_COLUMNS))
        .where(or_(_LINES.c.payment_id == payment_id, _LINES.c.entity_id.in_([payment_id, *refund_ids])))
        .order_by(_LINES.c.created_at)
    )
    return as_frame(conn.execute(query).all(), _STORY_LINE_COLUMNS)


def _settlements(conn: Connection, lines: pd.DataFrame) -> pd.DataFrame:
    settlement_ids = sorted({str(s) for s in lines["settlement_id"] if s})
    query = select(*(Settlement.__table__.c[name] for name in _SETTLEMENT_COLUMNS)).where(
        Settlement.id.in_(_or_nothing(settlement_ids))
    )
    return as_frame(conn.execute(query).all(), _SETTLEMENT_COLUMNS)


def _mismatches(conn: Connection, payment_id: str, refund_ids: Sequence[str]) -> pd.DataFrame:
    query = (
        select(*(Mismatch.__table__.c[name] for name in _MISMATCH_COLUMNS))
        .where(or_(Mismatch.payment_id == payment_id, Mismatch.refund_id.in_(_or_nothing(refund_ids))))
        .order_by(Mismatch.first_seen_at)
    )
    return as_frame(conn.execute(query).all(), _MISMATCH_COLUMNS)


def _timeline(
    payment: dict[str, Any],
    refunds: pd.DataFrame,
    events: pd.DataFrame,
    lines: pd.DataFrame,
    mismatches: pd.DataFrame,
) -> pd.DataFrame:
    """Every dated step of the story, oldest first (ties keep the order below: API, webhooks, refunds,
    settlement, reconciliation)."""
    steps: list[dict[str, Any]] = [
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
    steps += [
        {
            "at": e["created_at"],
            "what": f"Webhook {e['event_type']}",
            "detail": f"{e['entity_status'] or ''}; {_received(e['lag_ms'])}; delivered {e['delivery_count']}×",
            "source": "webhook",
        }
        for e in events.to_dict("records")
    ]
    steps += [
        {"at": r["created_at"], "what": f"Refund {r['id']}", "detail": str(r["status"]), "source": "api"}
        for r in refunds.to_dict("records")
    ]
    steps += [
        {
            "at": line["settled_at"],
            "what": f"Settled ({line['type']} line)",
            "detail": str(line["settlement_id"]),
            "source": "recon",
        }
        for line in lines.to_dict("records")
        if line["settled_at"] is not None and not pd.isna(line["settled_at"])
    ]
    steps += [
        {
            "at": m["first_seen_at"],
            "what": f"Mismatch {m['rule']}",
            "detail": str(m["status"]),
            "source": "reconcile",
        }
        for m in mismatches.to_dict("records")
    ]
    return pd.DataFrame(steps).sort_values("at", kind="stable").reset_index(drop=True)


def payment_story(db: Db, payment_id: str) -> PaymentStory | None:
    """The payment with its order, refunds, webhook events, settlement lines and settlements, and
    mismatches, read in one connection; None when payops has no such payment."""
    with reading(db) as conn:
        payment = _payment(conn, payment_id)
        if payment is None:
            return None
        refunds = _refunds(conn, payment_id)
        refund_ids = [str(refund_id) for refund_id in refunds["id"]]
        order = _order(conn, payment["order_id"])
        events = _webhook_events(conn, payment_id, refund_ids)
        lines = _settlement_lines(conn, payment_id, refund_ids)
        settlements = _settlements(conn, lines)
        mismatches = _mismatches(conn, payment_id, refund_ids)
    return PaymentStory(
        payment=payment,
        order=order,
        refunds=refunds,
        webhook_events=events,
        settlement_lines=lines,
        settlements=settlements,
        mismatches=mismatches,
        timeline=_timeline(payment, refunds, events, lines, mismatches),
    )
