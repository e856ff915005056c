"""The Disputes page: finance sees the open disputes and money at stake, managers the dispute rates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.disputes import dispute_rates
from analytics.filters import Filters
from dashboard.format import money
from dashboard.labels import method_label
from dashboard.roles import Role
from data.models import Dispute
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_pages import metrics, period, table
from tests.support.exports import prepare_csv


@pytest.fixture(scope="module")
def disputed(seeded: Seeded) -> Seeded:
    """Three disputes on seeded payments: one overdue, one due tomorrow, one lost (not open)."""
    now = datetime.now(UTC)
    payment_id = seeded.facts["payment_id"]
    common = {"payment_id": payment_id, "currency": "INR", "phase": "chargeback", "reason_code": "fraudulent"}
    rows = [
        {
            **common,
            "id": "disp_overdue",
            "amount": 7_000,
            "status": "open",
            "respond_by": now - timedelta(hours=3),
        },
        {
            **common,
            "id": "disp_soon",
            "amount": 3_000,
            "status": "action_required",
            "respond_by": now + timedelta(hours=20),
        },
        {
            **common,
            "id": "disp_lost",
            "amount": 9_000,
            "status": "lost",
            "respond_by": now - timedelta(days=9),
        },
    ]
    with seeded.engine.begin() as conn:
        upsert(
            conn,
            Dispute,
            [
                {
                    **row,
                    "amount_deducted": row["amount"] if row["status"] == "lost" else 0,
                    "reason_description": None,
                    "created_at": now - timedelta(days=2),
                    "state_at": now,
                    "source": "api",
                    "raw": {"id": row["id"]},
                }
                for row in rows
            ],
        )
    return seeded


def test_finance_sees_open_disputes_most_urgent_first_and_the_money_at_stake(
    app_for: AppFactory, disputed: Seeded
) -> None:
    at = app_for(Role.FINANCE, "disputes")
    assert not at.exception and not at.error
    shown = metrics(at)
    assert shown["Open disputes"] == "2"
    assert shown["Money at stake"] == money(10_000, "INR")
    assert (shown["Need a response"], shown["Past respond-by"]) == ("2", "1")
    rows = table(at, "id", "hours_left")
    assert list(rows["id"]) == ["disp_overdue", "disp_soon"]
    assert rows["hours_left"].iloc[0] < 0 <= rows["hours_left"].iloc[1]
    assert not [s for s in at.subheader if s.value == "Dispute rate"]  # managers' view


def test_manager_sees_dispute_rates_not_the_work_list(app_for: AppFactory, disputed: Seeded) -> None:
    at = app_for(Role.MANAGER, "disputes", **period(disputed))
    assert not at.exception and not at.error
    assert "Open disputes" not in [s.value for s in at.subheader]
    assert "Dispute rate" in [s.value for s in at.subheader]
    facts = disputed.facts
    expected = dispute_rates(
        disputed.engine, "method", Filters(date_from=facts["first_day"], date_to=facts["last_day"])
    )
    assert int(expected["disputed"].sum()) == 1  # the three disputes are on one payment
    assert len(at.get("plotly_chart")) == 2


def test_open_disputes_read_as_words_and_the_csv_keeps_the_codes(
    app_for: AppFactory, disputed: Seeded
) -> None:
    at = app_for(Role.FINANCE, "disputes")
    assert not at.exception, [e.value for e in at.exception]
    rows = table(at, "id", "hours_left")
    assert list(rows["status"]) == ["Open", "Action required"]
    assert set(rows["phase"]) == {"Chargeback"} and set(rows["reason_code"]) == {"Fraudulent"}
    # The money and the deadline right after the dispute, so they are in view at 1280 px.
    (element,) = [f for f in at.dataframe if "hours_left" in f.value.columns]
    order = list(element.proto.column_order)
    assert order[:4] == ["id", "amount_shown", "respond_by", "hours_left"]
    exported = prepare_csv(at, "open-disputes")
    assert {row["Status"] for row in exported} == {"open", "action_required"}
    assert {row["Reason code"] for row in exported} == {"fraudulent"}


def test_dispute_rate_axes_name_methods_and_show_distinct_ticks(
    app_for: AppFactory, disputed: Seeded
) -> None:
    at = app_for(Role.MANAGER, "disputes", **period(disputed))
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_method = next(s for s in specs if s["layout"]["title"]["text"].startswith("By payment method"))
    assert by_method["layout"]["xaxis"]["title"]["text"] == "Payment mode"
    facts = disputed.facts
    rates = dispute_rates(
        disputed.engine, "method", Filters(date_from=facts["first_day"], date_to=facts["last_day"])
    )
    drawn = rates[rates["successes"] > 0].head(15)
    assert by_method["data"][0]["x"] == [method_label(m) for m in drawn["method"]]
