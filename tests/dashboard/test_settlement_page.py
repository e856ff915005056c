"""Settlements as finance reads them: "Not adding up" names the settlement and its difference in ₹, "Net
settled" is the bank payout (with the lines' total and the difference when they differ), the difference
column comes right after the payout, and not-settled age buckets do not depend on the period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from analytics import settlements
from dashboard.format import money, plain, today_ist
from dashboard.roles import Role
from data.models import Settlement
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import analytics_filters, metrics, period
from tests.support.clock import TEST_NOW


def _short_the_settlement(seeded: Seeded, by: int) -> tuple[str, int]:
    """Make the seeded settlement's payout `by` paise more than its lines (a bank-side difference)."""
    with seeded.engine.begin() as conn:
        row = conn.execute(select(Settlement).where(Settlement.id == seeded.facts["settlement_id"])).one()
        payout = int(row.amount) + by
        upsert(conn, Settlement, [{**{c: getattr(row, c) for c in row._fields}, "amount": payout}])
    return str(row.id), payout


def test_settlements_name_what_does_not_add_up_and_show_the_payout(
    app_for: AppFactory, seeded: Seeded
) -> None:
    (inr,) = settlements.settlement_waterfalls(seeded.engine, analytics_filters(seeded))
    settlement_id, payout = _short_the_settlement(seeded, by=10_000)
    at = app_for(Role.FINANCE, "settlements", **period(seeded))
    assert not at.exception and not at.error
    shown = metrics(at)
    assert shown["Net settled"] == money(payout, "INR")
    assert shown["Not adding up"] == "1"
    [warning] = [w.value for w in at.warning if "Not adding up" in w.value]
    assert f"{plain(settlement_id)} ({money(10_000, 'INR')})" in warning  # the id as text, escaped
    net_help = next(m.help for m in at.metric if m.label == "Net settled")
    assert money(inr.net, "INR") in net_help and money(10_000, "INR") in net_help


def test_not_settled_ages_do_not_depend_on_the_period(app_for: AppFactory, seeded: Seeded) -> None:
    whole = app_for(Role.FINANCE, "settlements", **period(seeded))
    yesterday = (today_ist(TEST_NOW) - timedelta(days=1)).isoformat()
    one_day = app_for(Role.FINANCE, "settlements", period="custom", **{"from": yesterday}, to=yesterday)
    pending = [
        next(d.value for d in at.dataframe if "age" in d.value.columns and "payments" in d.value.columns)
        for at in (whole, one_day)
    ]
    inr = [frame[frame["currency"] == "INR"] for frame in pending]
    assert list(inr[0]["age"]) == list(inr[1]["age"])
    assert list(inr[0]["payments"]) == list(inr[1]["payments"])
    assert len(inr[0]) > 1  # more than the youngest bucket
