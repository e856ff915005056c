"""Disputes (and an international payment) loaded from files shaped like Razorpay's API reference."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from data.models import Dispute, Payment
from sync.load import load_files
from tests.sync.test_normalise import payment

DISPUTES = {
    "entity": "collection",
    "count": 2,
    "items": [
        {
            "id": "disp_Esz7KAitoYM7PJ",
            "entity": "dispute",
            "payment_id": "pay_EsyWjHrfzb59eR",
            "amount": 10000,
            "currency": "INR",
            "amount_deducted": 0,
            "reason_code": "pre_arbitration",
            "respond_by": 1590604200,
            "status": "open",
            "phase": "pre_arbitration",
            "created_at": 1590059211,
        },
        {
            "id": "disp_Esyvk3kZj0isXk",
            "entity": "dispute",
            "payment_id": "pay_EsyWjHrfzb59eR",
            "amount": 5000,
            "currency": "INR",
            "amount_deducted": 5000,
            "reason_code": "warranty_service_not_honoured",
            "respond_by": 1590604200,
            "status": "lost",
            "phase": "chargeback",
            "created_at": 1590058554,
        },
    ],
}


def test_disputes_load_from_a_collection_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "disputes.json"
    path.write_text(json.dumps(DISPUTES))
    result = load_files(engine, "disputes", [path])
    assert (result.records, result.upserted, result.quarantined) == (2, 2, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Dispute.id, Dispute.status, Dispute.amount_deducted).order_by(Dispute.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("disp_Esyvk3kZj0isXk", "lost", 5000),
        ("disp_Esz7KAitoYM7PJ", "open", 0),
    ]


def test_an_international_payment_loads_with_its_base_amount(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "payment.json"
    path.write_text(
        json.dumps(
            payment(
                amount=100,
                currency="USD",
                international=True,
                base_amount=8316,
                base_currency="INR",
                fee=207,
                tax=32,
            )
        )
    )
    assert load_files(engine, "payments", [path]).upserted == 1
    with engine.connect() as conn:
        row = conn.execute(
            select(Payment.amount, Payment.currency, Payment.base_amount, Payment.base_currency)
        ).one()
    assert tuple(row) == (100, "USD", 8316, "INR")
