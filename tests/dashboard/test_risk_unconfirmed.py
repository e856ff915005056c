"""Risk: the unconfirmed-capture signal lists only the first `UNCONFIRMED_LISTED` payment ids, but the
page shows the true count (in the signals table and "Showing N of M payments") and its CSV holds all M
(issue 12, silent truncation). The cap is made small here to keep the seed small."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from analytics import risk
from dashboard import queries
from dashboard.roles import Role
from data.models import CheckoutConfirmation, Payment
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import payment_row
from tests.support.databases import BACKENDS, MigratedDatabase

LISTED = 5  # the cap, made small
PLANTED = 12  # captured with an order, never confirmed


def _captured(payment_id: str, order_id: str, created_at: datetime) -> dict[str, Any]:
    """A captured card payment with an order (the seed's own row shape)."""
    row = payment_row(1, created_at, random.Random(1))
    amount = int(row["amount"])
    return {
        **row,
        "id": payment_id,
        "order_id": order_id,
        "status": "captured",
        "captured": True,
        "currency": "INR",
        "base_amount": amount,
        "base_currency": "INR",
        "fee": amount * 2 // 100,
        "tax": amount * 2 * 18 // 10_000,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
    }


def _plant_unconfirmed(engine: Engine) -> None:
    two_hours_ago = TEST_NOW - timedelta(hours=2)
    with engine.begin() as conn:
        upsert(
            conn,
            Payment,
            [
                _captured("pay_confirmed", "order_confirmed", two_hours_ago),
                *(
                    _captured(f"pay_unconf{i:03d}", f"order_unconf{i:03d}", two_hours_ago)
                    for i in range(PLANTED)
                ),
            ],
        )
        # The merchant forwards confirmations (one arrived), so the missing ones mean something.
        conn.execute(
            insert(CheckoutConfirmation),
            [
                {
                    "received_at": two_hours_ago + timedelta(minutes=1),
                    "order_id": "order_confirmed",
                    "payment_id": "pay_confirmed",
                    "verdict": "verified",
                    "key_used": "current",
                    "signature_sha256": "0" * 64,
                    "source_address": "10.0.0.1",
                    "detail": None,
                }
            ],
        )


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "risk-unconfirmed-db", plant=_plant_unconfirmed
    )


def test_unconfirmed_captures_show_their_true_count_and_export_every_payment(
    app_for: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "now", lambda: TEST_NOW)
    monkeypatch.setattr(risk, "UNCONFIRMED_LISTED", LISTED)
    at = app_for(Role.FINANCE, "risk")
    assert not at.exception, [e.value for e in at.exception]
    signals = at.dataframe(key="risk_signals").value
    (row,) = signals[signals["kind"] == "unconfirmed_capture"].to_dict("records")
    total = int(row["payments"])
    assert total >= PLANTED > LISTED
    assert row["title"] == f"{total:,} captured payments without a checkout confirmation"

    at.selectbox(key="risk_pick").set_value(list(signals["kind"]).index("unconfirmed_capture")).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe(key="table_risk-unconfirmed_capture-payments").value
    assert len(shown) == LISTED
    captions = [c.value for c in at.caption]
    assert f"Showing {LISTED} of {total} payments; the CSV has all {total}." in captions
    next(b for b in at.button if b.key == "prepare_risk-unconfirmed_capture-payments").click().run()
    assert not at.exception, [e.value for e in at.exception]
    prepared = at.session_state["payops_exports"]["csv_risk-unconfirmed_capture-payments"]
    rows = list(csv.DictReader(io.StringIO(prepared.data.decode("utf-8"))))
    ids = [row["Id"] for row in rows]
    assert len(ids) == len(set(ids)) == total
    assert {f"pay_unconf{i:03d}" for i in range(PLANTED)} <= set(ids)
    assert "pay_confirmed" not in ids
