"""Order-level success: orders attempted → eventually paid, attempts needed, by the first attempt's method."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from analytics.filters import Filters
from analytics.orders import order_success
from tests.support.factories import T0, payment, write

DAY = Filters(date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))  # T0 is 11:30 IST on 2 Nov


def _attempt(
    pid: str, order_id: str, minute: int, method: str, status: str, **fields: object
) -> dict[str, object]:
    at = T0 + timedelta(minutes=minute)
    return payment(pid, order_id=order_id, method=method, status=status, created_at=at, state_at=at, **fields)


@pytest.fixture
def orders(engine: Engine) -> Engine:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            # Failed on a card, paid by UPI: a saved sale, first method card.
            _attempt("pay_1a", "order_1", 0, "card", "failed"),
            _attempt("pay_1b", "order_1", 2, "upi", "captured"),
            _attempt("pay_2a", "order_2", 0, "card", "captured"),
            _attempt("pay_3a", "order_3", 0, "card", "failed"),
            _attempt("pay_3b", "order_3", 1, "card", "failed"),
            _attempt("pay_4a", "order_4", 0, "upi", "failed"),
            _attempt("pay_4b", "order_4", 1, "upi", "failed"),
            _attempt("pay_4c", "order_4", 3, "upi", "authorized"),
            # Never reached the gateway: not an attempted order.
            _attempt("pay_5a", "order_5", 0, "card", "created"),
            # First attempted the day before: counted on that day, its retry today does not make it today's.
            _attempt("pay_6a", "order_6", -24 * 60, "netbanking", "failed"),
            _attempt("pay_6b", "order_6", 5, "netbanking", "captured"),
            # No order: attempt-level only.
            payment("pay_7", created_at=T0),
        )
    return engine


def test_orders_eventually_paid_by_first_method(orders: Engine) -> None:
    frame = order_success(orders, DAY).set_index("first_method")
    assert list(frame.index) == ["card", "upi", "all"]
    card = frame.loc["card"]
    assert (card["orders_attempted"], card["orders_paid"]) == (3, 2)
    assert (card["paid_first_attempt"], card["paid_after_retry"], card["paid_by_other_method"]) == (1, 1, 1)
    assert card["order_success_rate"] == pytest.approx(2 / 3)
    assert card["avg_attempts_to_pay"] == pytest.approx(1.5)
    # The same orders' payments, attempt by attempt: 2 successes in 5 attempts.
    assert (card["attempts"], card["attempt_successes"]) == (5, 2)
    assert card["attempt_success_rate"] == pytest.approx(0.4)
    upi = frame.loc["upi"]
    assert (upi["orders_attempted"], upi["orders_paid"], upi["paid_after_retry"]) == (1, 1, 1)
    assert upi["avg_attempts_to_pay"] == pytest.approx(3.0)
    total = frame.loc["all"]
    assert (total["orders_attempted"], total["orders_paid"], total["attempts"]) == (4, 3, 8)
    assert total["order_success_rate"] == pytest.approx(0.75)


def test_an_order_counts_on_the_day_of_its_first_attempt(orders: Engine) -> None:
    day_before = Filters(date_from=date(2026, 11, 1), date_to=date(2026, 11, 1))
    frame = order_success(orders, day_before).set_index("first_method")
    netbanking = frame.loc["netbanking"]
    assert (netbanking["orders_attempted"], netbanking["orders_paid"], netbanking["paid_after_retry"]) == (
        1,
        1,
        1,
    )


def test_method_filter_and_empty(orders: Engine) -> None:
    only_upi = order_success(orders, Filters(date_from=DAY.date_from, date_to=DAY.date_to, method="upi"))
    assert list(only_upi["first_method"]) == ["upi", "all"]
    empty = order_success(orders, Filters(date_from=date(2026, 12, 1), date_to=date(2026, 12, 1)))
    assert empty.empty
