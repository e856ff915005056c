"""Razorpay-shaped webhook bodies for the receiver's tests: entity snapshots, envelopes, signed posts."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.testclient import TestClient

from sync.webhooks.intake import sign

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
T0 = 1_795_000_000  # an envelope time (2026-11-18): snapshots at T0 + n are n seconds newer


def payment(pid: str = "pay_W1", status: str = "captured", **fields: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": pid,
        "entity": "payment",
        "amount": 50000,
        "currency": "INR",
        "status": status,
        "order_id": "order_W1",
        "method": "upi",
        "vpa": "someone@okhdfcbank",
        "international": False,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": status in ("captured", "refunded"),
        "email": "someone@example.com",
        "contact": "+919876543210",
        "notes": [],
        "fee": 1000 if status in ("captured", "refunded") else None,
        "tax": 180 if status in ("captured", "refunded") else None,
        "error_code": None,
        "created_at": T0 - 600,
    }
    snapshot.update(fields)
    return snapshot


def order(oid: str = "order_W1", status: str = "paid", **fields: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": oid,
        "entity": "order",
        "amount": 50000,
        "amount_paid": 50000 if status == "paid" else 0,
        "amount_due": 0 if status == "paid" else 50000,
        "currency": "INR",
        "status": status,
        "attempts": 1,
        "receipt": "rcpt_1",
        "created_at": T0 - 700,
    }
    snapshot.update(fields)
    return snapshot


def refund(rid: str = "rfnd_W1", status: str = "processed", **fields: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": rid,
        "entity": "refund",
        "amount": 50000,
        "currency": "INR",
        "payment_id": "pay_W1",
        "status": status,
        "speed_processed": "normal",
        "created_at": T0 - 100,
    }
    snapshot.update(fields)
    return snapshot


def settlement(sid: str = "setl_W1", status: str = "processed", **fields: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": sid,
        "entity": "settlement",
        "amount": 48820,
        "status": status,
        "fees": 1000,
        "tax": 180,
        "utr": "UTR000001",
        "created_at": T0 - 50,
    }
    snapshot.update(fields)
    return snapshot


def envelope(event: str, created_at: int = T0, **entities: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity": "event",
        "account_id": "acc_Test",
        "event": event,
        "contains": list(entities),
        "payload": {name: {"entity": snapshot} for name, snapshot in entities.items()},
        "created_at": created_at,
    }


def post(
    client: TestClient,
    body: dict[str, Any] | bytes,
    *,
    event_id: str | None,
    secret: str | None = SECRET,
    signature: str | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Razorpay-Signature"] = signature
    elif secret is not None:
        headers["X-Razorpay-Signature"] = sign(raw, secret)
    if event_id is not None:
        headers["X-Razorpay-Event-Id"] = event_id
    return client.post("/webhooks/razorpay", content=raw, headers=headers)


def dispute(did: str = "disp_W1", status: str = "open", **fields: Any) -> dict[str, Any]:
    """Shaped like the dispute entity of Razorpay's API reference (disputes/entity)."""
    snapshot: dict[str, Any] = {
        "id": did,
        "entity": "dispute",
        "payment_id": "pay_W1",
        "amount": 50000,
        "currency": "INR",
        "amount_deducted": 50000 if status == "lost" else 0,
        "reason_code": "chargeback",
        "reason_description": "The customer says the goods never arrived.",
        "respond_by": T0 + 7 * 86_400,
        "status": status,
        "phase": "chargeback",
        "created_at": T0 - 300,
        "evidence": {"amount": 50000, "summary": None, "submitted_at": None},
    }
    snapshot.update(fields)
    return snapshot


def downtime(did: str = "down_W1", status: str = "started", **fields: Any) -> dict[str, Any]:
    """Shaped like the payment.downtime entity of Razorpay's API reference (payments/downtime/entity)."""
    snapshot: dict[str, Any] = {
        "id": did,
        "entity": "payment.downtime",
        "method": "upi",
        "begin": T0 - 900,
        "end": T0 if status == "resolved" else None,
        "status": status,
        "scheduled": False,
        "severity": "high",
        "instrument": {"vpa_handle": "oksbi", "psp": "google_pay", "flow": "collect"},
        "instrument_schema": ["vpa_handle", "psp", "flow"],
        "created_at": T0 - 880,
        "updated_at": T0 - 880,
    }
    snapshot.update(fields)
    return snapshot
