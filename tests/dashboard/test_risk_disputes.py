"""Risk → disputes: open disputes near (or past) their respond-by date are a signal with the payments
behind it, and the dispute rate by method and card network sits beside the signals."""

from __future__ import annotations

from analytics.disputes import dispute_rates
from analytics.filters import last_n_days
from dashboard.roles import Role
from tests.dashboard.conftest import AppFactory, Seeded
from tests.dashboard.test_disputes_page import disputed

__all__ = ["disputed"]  # the fixture, shared with the Disputes page's tests


def test_managers_see_disputes_due_as_a_signal_and_the_dispute_rates(
    app_for: AppFactory, disputed: Seeded
) -> None:
    at = app_for(Role.MANAGER, "risk")
    assert not at.exception, [e.value for e in at.exception]
    signals = at.dataframe(key="risk_signals").value
    due = signals[signals["kind"] == "dispute_respond_by"]
    # The overdue and the due-tomorrow dispute (the lost one is decided), both on one payment.
    assert list(due["subject"]) == ["disputes:INR"]
    assert list(due["payments"]) == [2]
    assert {m.label: m.value for m in at.metric}["Disputes due"] == "1"

    frames = [frame.value for frame in at.dataframe if "disputed" in frame.value.columns]
    by_method = next(frame for frame in frames if "method" in frame.columns)
    expected = dispute_rates(disputed.engine, "method", last_n_days(30))
    assert list(by_method["method"]) == list(expected["method"])
    assert list(by_method["disputed"]) == list(expected["disputed"])
    assert int(by_method["disputed"].sum()) == 1  # three disputes, one payment
    by_network = next(frame for frame in frames if "card_network" in frame.columns)
    assert list(by_network["card_network"]) == list(
        dispute_rates(disputed.engine, "card_network", last_n_days(30))["card_network"]
    )
