"""Hand-made rows for analytics tests, written with the one shared upsert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from data.models import Dispute, Order, Payment, Refund, Settlement, SettlementLine, WebhookEvent
from data.rollups import rebuild_webhook_lag
from data.upsert import upsert

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def payment(id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "order_id": None,
        "amount": 10_000,
        "currency": "INR",
        "status": "captured",
        "method": "card",
        "international": False,
        "captured": fields.get("status", "captured") in ("captured", "refunded"),
        "amount_refunded": 0,
        "refund_status": None,
        "fee": None,
        "tax": None,
        "bank": None,
        "wallet": None,
        "card_network": None,
        "card_type": None,
        "card_issuer": None,
        "card_international": None,
        "card_last4": None,
        "upi_flow": None,
        "upi_app": None,
        "email": None,
        "contact": None,
        "country": "IN",
        "country_source": "phone",
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "created_at": T0,
        "state_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    if "base_amount" not in fields:
        # As the normaliser stores it: a payment in the base currency is its own base amount; a foreign
        # one without the API's figures has none.
        inr = row["currency"] == "INR"
        row["base_amount"], row["base_currency"] = (row["amount"], "INR") if inr else (None, None)
    return row


def order(id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "amount": 10_000,
        "amount_paid": 0,
        "amount_due": 10_000,
        "currency": "INR",
        "status": "created",
        "attempts": 0,
        "receipt": None,
        "created_at": T0,
        "state_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    return row


def refund(id: str, payment_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "payment_id": payment_id,
        "amount": 10_000,
        "currency": "INR",
        "status": "processed",
        "speed_processed": "normal",
        "created_at": T0,
        "state_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    return row


def settlement(id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "amount": 0,
        "currency": "INR",
        "status": "processed",
        "fees": 0,
        "tax": 0,
        "utr": "UTR" + id,
        "created_at": T0,
        "state_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    return row


def settlement_line(entity_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "entity_id": entity_id,
        "type": "payment",
        "payment_id": entity_id,
        "amount": 10_000,
        "fee": 0,
        "tax": 0,
        "debit": 0,
        "credit": 10_000,
        "currency": "INR",
        "on_hold": False,
        "settled": True,
        "settlement_id": None,
        "settlement_utr": None,
        "dispute_id": None,
        "settled_at": T0,
        "order_id": None,
        "method": None,
        "card_network": None,
        "created_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    return row


def dispute(id: str, payment_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "payment_id": payment_id,
        "amount": 10_000,
        "amount_deducted": 0,
        "currency": "INR",
        "reason_code": "chargeback",
        "reason_description": None,
        "phase": "chargeback",
        "status": "open",
        "respond_by": None,
        "created_at": T0,
        "state_at": T0,
        "source": "api",
        "raw": {},
    }
    row.update(fields)
    return row


def webhook_event(event_id: str, event_type: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "known_type": True,
        "account_id": "acc_test",
        "created_at": T0,
        "received_at": T0,
        "last_received_at": T0,
        "delivery_count": 1,
        "lag_ms": 0,
        "payment_id": None,
        "order_id": None,
        "refund_id": None,
        "settlement_id": None,
        "entity_status": None,
        "applied": True,
        "apply_error": None,
        "payload": {},
    }
    row.update(fields)
    return row


MODELS = {
    "payments": Payment,
    "orders": Order,
    "refunds": Refund,
    "settlements": Settlement,
    "settlement_lines": SettlementLine,
    "disputes": Dispute,
    "webhook_events": WebhookEvent,
}


def write(conn: Connection, table: str, *rows: dict[str, Any]) -> None:
    upsert(conn, MODELS[table], list(rows))
    if table == "webhook_events":
        # The receiver counts its events into the lag rollup as it stores them; rows written here
        # directly are counted by rebuilding it.
        rebuild_webhook_lag(conn)
