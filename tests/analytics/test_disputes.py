"""Disputes for finance (open ones, deadlines, money at stake) and managers (rate by method/network)."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from analytics.disputes import dispute_rates, dispute_summary, open_disputes
from analytics.filters import Filters
from data.models import PaymentRollupDaily
from data.upsert import upsert
from tests.support.factories import T0, dispute, payment, write

NOW = T0 + timedelta(days=3)


def _rollup(
    day: date, method: str, successes: int, *, dimension: str = "all", value: str = ""
) -> dict[str, Any]:
    return {
        "ist_day": day,
        "dimension": dimension,
        "dim_value": value,
        "currency": "INR",
        "method": method,
        "country": "IN",
        "country_source": "phone",
        "attempts": successes,
        "successes": successes,
        "failures": 0,
        "created_count": 0,
        "attempt_amount": 0,
        "success_amount": 0,
    }


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_v1", method="card", card_network="Visa"),
            payment("pay_v2", method="card", card_network="Visa"),
            payment("pay_m1", method="card", card_network="MasterCard"),
            payment("pay_u1", method="upi"),
            payment("pay_usd", method="card", card_network="Visa", currency="USD", amount=5_000),
        )
        write(
            conn,
            "disputes",
            dispute("disp_overdue", "pay_v1", amount=7_000, respond_by=NOW - timedelta(hours=5)),
            dispute(
                "disp_soon",
                "pay_v2",
                status="action_required",
                amount=3_000,
                respond_by=NOW + timedelta(hours=30),
            ),
            dispute(
                "disp_review",
                "pay_m1",
                status="under_review",
                amount=2_000,
                respond_by=NOW - timedelta(days=1),
            ),
            dispute("disp_lost", "pay_u1", status="lost", amount=9_000, amount_deducted=9_000),
            dispute("disp_usd", "pay_usd", amount=5_000, currency="USD", respond_by=NOW + timedelta(days=5)),
        )
        day = T0.astimezone(UTC).date()
        upsert(
            conn,
            PaymentRollupDaily,
            [
                _rollup(day, "card", 40),
                _rollup(day, "upi", 100),
                _rollup(day, "card", 30, dimension="card_network", value="Visa"),
                _rollup(day, "card", 10, dimension="card_network", value="MasterCard"),
            ],
        )
    return engine


def test_open_disputes_most_urgent_first_with_hours_left(seeded: Engine) -> None:
    frame = open_disputes(seeded, now=NOW)
    assert list(frame["id"]) == ["disp_overdue", "disp_soon", "disp_usd", "disp_review"]
    rows = frame.set_index("id")
    assert rows.loc["disp_overdue", "hours_left"] == -5
    assert rows.loc["disp_soon", "hours_left"] == 30
    assert bool(rows.loc["disp_review", "needs_response"]) is False
    assert (
        frame.loc[frame["id"] == "disp_review", "hours_left"].isna().all()
    )  # evidence sent: no deadline now
    assert rows.loc["disp_overdue", "card_network"] == "Visa"


def test_money_at_stake_per_currency_never_summed_across(seeded: Engine) -> None:
    inr, usd = dispute_summary(seeded, now=NOW)
    assert (inr.currency, inr.open, inr.at_stake, inr.needs_response, inr.overdue, inr.due_within_48h) == (
        "INR",
        3,
        12_000,
        2,
        1,
        1,
    )
    assert (usd.currency, usd.open, usd.at_stake, usd.needs_response) == ("USD", 1, 5_000, 1)


def test_dispute_rate_by_method_and_card_network(seeded: Engine) -> None:
    day = T0.astimezone(UTC).date()
    by_method = dispute_rates(seeded, "method", Filters(date_from=day, date_to=day, currency="INR"))
    assert by_method.to_dict(orient="records") == [
        {"method": "card", "successes": 40, "disputed": 3, "rate": 3 / 40},
        {"method": "upi", "successes": 100, "disputed": 1, "rate": 0.01},
    ]
    by_network = dispute_rates(seeded, "card_network", Filters(date_from=day, date_to=day, currency="INR"))
    assert by_network[["card_network", "successes", "disputed"]].to_dict(orient="records") == [
        {"card_network": "Visa", "successes": 30, "disputed": 2},
        {"card_network": "MasterCard", "successes": 10, "disputed": 1},
        # A UPI payment has no network; with no successes counted there is no rate (not 0, not ∞).
        {"card_network": "unknown", "successes": 0, "disputed": 1},
    ]
    assert list(by_network["rate"][:2]) == [2 / 30, 0.1] and pd.isna(by_network["rate"][2])
    later = day + timedelta(days=1)
    assert dispute_rates(seeded, "method", Filters(date_from=later, date_to=later)).empty
    with pytest.raises(ValueError, match="method or card_network"):
        dispute_rates(seeded, "bank", Filters())  # type: ignore[arg-type]
