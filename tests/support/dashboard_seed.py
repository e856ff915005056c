"""A small, deterministic database for the dashboard tests: payments over the last 10 IST days in
INR and USD across methods, countries and failure reasons, plus orders, refunds, a settlement with its
lines, webhook events and a rejection. Written through data.upsert and the analytics rollups, like the
real writers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from dashboard.format import today_ist
from data.ist import IST
from data.models import (
    Order,
    Payment,
    Quarantine,
    Refund,
    Settlement,
    SettlementLine,
    SyncCheckpoint,
    SyncRun,
    WebhookEvent,
    WebhookRejection,
)
from data.rollups import rebuild_all
from data.upsert import upsert
from sync.entities import ENTITY_NAMES

METHODS = ("upi", "card", "netbanking", "wallet")
BANKS = ("HDFC", "ICIC", "SBIN")
NETWORKS = ("Visa", "MasterCard", "RuPay")
UPI_APPS = ("okhdfcbank", "ybl", "paytm")
REASONS = (
    ("customer", "payment_authentication", "payment_timed_out"),
    ("bank", "payment_authorization", "insufficient_funds"),
    ("customer", "payment_authentication", "payment_cancelled"),
)
SEED_EMAIL = "asha.verma@example.com"
SEED_CONTACT = "+919876543210"


def payment_row(index: int, created_at: datetime, rng: random.Random) -> dict[str, Any]:
    method = METHODS[index % len(METHODS)]
    international = method == "card" and index % 7 == 0
    currency = "USD" if international else "INR"
    country = "US" if international else "IN"
    failed = rng.random() < 0.2
    status = "failed" if failed else ("captured" if index % 5 else "authorized")
    amount = 10_000 + (index * 137) % 500_000
    reason = REASONS[index % len(REASONS)] if failed else (None, None, None)
    row: dict[str, Any] = {
        "id": f"pay_seed{index:06d}",
        "order_id": f"order_seed{index:06d}",
        "amount": amount,
        "currency": currency,
        # As stored from the API: an INR payment is its own base amount; these USD ones carry none.
        "base_amount": amount if currency == "INR" else None,
        "base_currency": "INR" if currency == "INR" else None,
        "status": status,
        "method": method,
        "international": international,
        "captured": status == "captured",
        "amount_refunded": 0,
        "refund_status": None,
        "fee": amount * 2 // 100 if status == "captured" else None,
        "tax": amount * 2 * 18 // 10_000 if status == "captured" else None,
        "bank": BANKS[index % 3] if method == "netbanking" else None,
        "wallet": "paytm" if method == "wallet" else None,
        "card_network": NETWORKS[index % 3] if method == "card" else None,
        "card_type": "credit" if method == "card" else None,
        "card_issuer": None,
        "card_international": international if method == "card" else None,
        "card_last4": "1111" if method == "card" else None,
        "upi_flow": "collect" if method == "upi" else None,
        "upi_app": UPI_APPS[index % 3] if method == "upi" else None,
        "email": SEED_EMAIL if index == 0 else f"buyer{index}@example.com",
        "contact": SEED_CONTACT if index == 0 else f"+9198{index:08d}",
        "country": country,
        "country_source": "international_currency" if international else "domestic_method",
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment failed" if failed else None,
        "error_source": reason[0],
        "error_step": reason[1],
        "error_reason": reason[2],
        "created_at": created_at,
        "state_at": created_at + timedelta(minutes=1),
        "source": "api",
        "raw": {"id": f"pay_seed{index:06d}", "entity": "payment"},
    }
    return row


def settlement_line(
    row: dict[str, Any], *, settlement_id: str, utr: str, settled_at: datetime
) -> dict[str, Any]:
    """The recon line that pays out the captured payment `row` in settlement `settlement_id`."""
    return {
        "entity_id": row["id"],
        "type": "payment",
        "payment_id": row["id"],
        "amount": row["amount"],
        "fee": row["fee"],
        "tax": row["tax"],
        "debit": 0,
        "credit": row["amount"] - row["fee"],
        "currency": row["currency"],
        "on_hold": False,
        "settled": True,
        "settlement_id": settlement_id,
        "settlement_utr": utr,
        "settled_at": settled_at,
        "order_id": row["order_id"],
        "method": row["method"],
        "card_network": row["card_network"],
        "created_at": row["created_at"],
        "source": "api",
        "raw": {"entity_id": row["id"]},
    }


def seed_dashboard_database(
    engine: Engine, *, now: datetime, payments: int = 240, days: int = 10
) -> dict[str, Any]:
    """Write the seed rows as of `now`; returns facts the tests assert against (ids, the period seeded).

    The payments are spread evenly from the start of the first IST day up to `now`, so every one of
    them lies inside [first_day, today] and none is in the future, whatever the hour of `now` (at
    00:05 IST today holds none of them, at 23:55 IST its share).
    """
    rng = random.Random(7)
    today = today_ist(now)
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, time.min, tzinfo=IST).astimezone(UTC)
    step = (now - start) / payments
    # Half a step in: no payment sits exactly on a day boundary or at `now` itself.
    rows = [payment_row(i, start + step * (i + 0.5), rng) for i in range(payments)]
    orders = [
        {
            "id": row["order_id"],
            "amount": row["amount"],
            "amount_paid": row["amount"] if row["status"] == "captured" else 0,
            "amount_due": 0 if row["status"] == "captured" else row["amount"],
            "currency": row["currency"],
            "status": "paid" if row["status"] == "captured" else "attempted",
            "attempts": 1,
            "receipt": f"rcpt_{row['id']}",
            "created_at": row["created_at"],
            "state_at": row["state_at"],
            "source": "api",
            "raw": {"id": row["order_id"]},
        }
        for row in rows
    ]
    captured_inr = [row for row in rows if row["status"] == "captured" and row["currency"] == "INR"]
    refunded = captured_inr[0]
    refunds = [
        {
            "id": "rfnd_seed000001",
            "payment_id": refunded["id"],
            "amount": 5_000,
            "currency": "INR",
            "status": "processed",
            "speed_processed": "normal",
            "created_at": refunded["created_at"] + timedelta(hours=2),
            "state_at": refunded["created_at"] + timedelta(hours=2),
            "source": "api",
            "raw": {"id": "rfnd_seed000001"},
        }
    ]
    settled = captured_inr[:20]
    settlement_at = settled[-1]["created_at"] + timedelta(days=2)
    lines: list[dict[str, Any]] = [
        settlement_line(row, settlement_id="setl_seed000001", utr="UTRSEED0001", settled_at=settlement_at)
        for row in settled
    ]
    lines.append(
        {
            **lines[0],
            "entity_id": "rfnd_seed000001",
            "type": "refund",
            "payment_id": refunded["id"],
            "amount": 5_000,
            "fee": 0,
            "tax": 0,
            "debit": 5_000,
            "credit": 0,
            "created_at": refunds[0]["created_at"],
            "raw": {"entity_id": "rfnd_seed000001"},
        }
    )
    settlement_amount = sum(line["credit"] - line["debit"] for line in lines)
    settlements = [
        {
            "id": "setl_seed000001",
            "amount": settlement_amount,
            "currency": "INR",
            "status": "processed",
            "fees": sum(line["fee"] for line in lines),
            "tax": sum(line["tax"] for line in lines),
            "utr": "UTRSEED0001",
            "created_at": settlement_at,
            "state_at": settlement_at,
            "source": "api",
            "raw": {"id": "setl_seed000001"},
        }
    ]
    events = [
        {
            "event_id": f"evt_seed{i:06d}",
            "event_type": "payment.failed" if row["status"] == "failed" else "payment.authorized",
            "known_type": True,
            "account_id": "acc_seed",
            "created_at": row["created_at"],
            "received_at": row["created_at"] + timedelta(milliseconds=400 + 37 * i),
            "last_received_at": row["created_at"] + timedelta(milliseconds=400 + 37 * i),
            "delivery_count": 2 if i % 50 == 0 else 1,
            "lag_ms": 400 + 37 * i,
            "payment_id": row["id"],
            "order_id": row["order_id"],
            "refund_id": None,
            "settlement_id": None,
            "entity_status": row["status"],
            "applied": True,
            "apply_error": None,
            "payload": {"event": "payment"},
        }
        for i, row in enumerate(rows)
    ]
    with engine.begin() as conn:
        upsert(conn, Payment, rows)
        upsert(conn, Order, orders)
        upsert(conn, Refund, refunds)
        upsert(conn, Settlement, settlements)
        upsert(conn, SettlementLine, lines)
        upsert(conn, WebhookEvent, events)
        upsert(
            conn,
            WebhookRejection,
            [
                {
                    # One delivery, as the receiver counts it (its minute, first = last seen).
                    "minute_start": (now - timedelta(hours=1)).replace(second=0, microsecond=0),
                    "received_at": now - timedelta(hours=1),
                    "last_received_at": now - timedelta(hours=1),
                    "delivery_count": 1,
                    "reason": "bad_signature",
                    "event_id": "evt_bad000001",
                    "event_type": "payment.captured",
                    "body_sha256": "0" * 64,
                    "body_size": 512,
                    "source_address": "127.0.0.1",
                    "detail": "signature did not verify",
                }
            ],
        )
        upsert(
            conn,
            SyncRun,
            [
                {
                    "started_at": now - timedelta(minutes=10),
                    "finished_at": now - timedelta(minutes=9),
                    "status": "succeeded",
                    "trigger": "cli",
                    "counts": {"payments": {"fetched": len(rows), "upserted": len(rows), "quarantined": 1}},
                    "error": None,
                    "pid": 1,
                }
            ],
        )
        upsert(
            conn,
            SyncCheckpoint,
            [
                # One checkpoint on a whole second: ISO text with and without microseconds side by side.
                {
                    "entity": entity,
                    "synced_until": (now - timedelta(minutes=15)).replace(microsecond=0 if whole else 123456),
                    "run_id": 1,
                }
                # Every declared entity, so none shows as "never synced".
                for entity, whole in ((name, name == "settlements") for name in ENTITY_NAMES)
            ],
        )
        upsert(
            conn,
            Quarantine,
            [
                {
                    "entity": "payments",
                    "entity_id": "pay_broken0001",
                    "fingerprint": "f" * 64,
                    "reason": "amount is not an integer",
                    "raw": '{"id": "pay_broken0001", "amount": "ten"}',
                    "source": "api",
                    "first_seen_at": now - timedelta(minutes=10),
                    "last_seen_at": now - timedelta(minutes=10),
                    "run_id": 1,
                }
            ],
        )
        rebuild_all(conn)
    return {
        "first_day": first_day,
        "last_day": today,
        "payments": len(rows),
        "payment_id": rows[0]["id"],
        "order_id": rows[0]["order_id"],
        "email": SEED_EMAIL,
        "contact": SEED_CONTACT,
        "refund_id": "rfnd_seed000001",
        "refunded_payment_id": refunded["id"],
        "settlement_id": "setl_seed000001",
        "settled_payment_id": settled[0]["id"],
    }
