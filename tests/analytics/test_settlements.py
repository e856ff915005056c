"""The settlement queries behind the Settlements page, on hand-made settlements, lines and payments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from analytics.filters import Filters
from analytics.settlements import (
    SettlementTotals,
    pending_settlement,
    settlement_totals,
    settlements,
    settlements_page,
)
from tests.support.factories import payment, settlement, settlement_line, write

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DAY_START = datetime(2026, 11, 18, 18, 30, tzinfo=UTC)  # IST midnight of 2026-11-19
NOV_19 = Filters(date_from=date(2026, 11, 19), date_to=date(2026, 11, 19))


def test_settlements_of_the_period_with_their_lines(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            settlement("setl_19", amount=14_000, created_at=DAY_START + timedelta(hours=10)),
            settlement("setl_18", amount=5_000, created_at=DAY_START - timedelta(hours=10)),
        )
        write(
            conn,
            "settlement_lines",
            settlement_line("pay_1", settlement_id="setl_19", credit=9_000),
            settlement_line("pay_2", settlement_id="setl_19", credit=6_000),
            settlement_line(
                "rfnd_1", type="refund", payment_id="pay_1", settlement_id="setl_19", credit=0, debit=1_000
            ),
            settlement_line("pay_3", settlement_id="setl_18", credit=5_000),
        )
    rows = settlements(engine, NOV_19)
    assert list(rows["id"]) == ["setl_19"]
    only = rows.iloc[0]
    assert (only["lines"], only["lines_net"], only["difference"]) == (3, 14_000, 0)
    everything = settlements(engine).set_index("id")
    assert everything.loc["setl_18", "lines"] == 1
    assert everything.loc["setl_18", "difference"] == 0


def test_pending_settlement_counts_captured_payments_without_a_line(engine: Engine) -> None:
    at = DAY_START + timedelta(hours=2)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_settled", created_at=at, amount=10_000),
            payment("pay_pending", created_at=at, amount=2_500),
            payment("pay_refunded", created_at=at, amount=4_000, status="refunded"),
            # Authorised, never captured, auto-refunded by Razorpay: nothing to settle.
            payment("pay_auto_refunded", created_at=at, amount=7_000, status="refunded", captured=False),
            payment("pay_failed", created_at=at, amount=9_000, status="failed"),
            payment("pay_usd", created_at=at, amount=300, currency="USD"),
            payment("pay_other_day", created_at=at - timedelta(days=1), amount=1_000),
        )
        write(conn, "settlement_lines", settlement_line("pay_settled", settlement_id="setl_19"))
    pending = pending_settlement(engine, NOV_19, now=NOW)
    assert [
        tuple(row) for row in pending[["currency", "age", "payments", "amount"]].itertuples(index=False)
    ] == [
        ("INR", "0–1 days", 2, 6_500),
        ("USD", "0–1 days", 1, 300),
    ]


def test_the_pages_totals_from_a_complete_list_equal_the_sql_totals(engine: Engine) -> None:
    """settlements_page sums a list that holds every settlement of the period itself instead of
    reading the period's lines again: per currency, the same counts, payouts and not-adding-up."""
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            settlement("setl_a", amount=14_000, created_at=DAY_START + timedelta(hours=1)),
            settlement("setl_b", amount=5_000, created_at=DAY_START + timedelta(hours=2)),
            settlement("setl_c", amount=700, currency="USD", created_at=DAY_START + timedelta(hours=3)),
        )
        write(
            conn,
            "settlement_lines",
            settlement_line("pay_a", settlement_id="setl_a", credit=14_000),
            settlement_line("pay_b", settlement_id="setl_b", credit=4_000),  # ₹10 short of its payout
        )
    totals = settlements_page(engine, NOV_19, now=NOW).totals
    assert totals == settlement_totals(engine, NOV_19)
    assert totals["INR"] == SettlementTotals("INR", settlements=2, payout=19_000, not_adding_up=1)
    assert totals["USD"] == SettlementTotals("USD", settlements=1, payout=700, not_adding_up=1)
