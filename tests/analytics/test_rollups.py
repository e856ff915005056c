"""Rollup answers equal the same question asked of the raw rows, for random data and random filters."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select, update

from analytics import success
from analytics.filters import Filters
from data import rollups
from data.ist import IST
from data.models import (
    Payment,
    PaymentFailureRollupDaily,
    PaymentFailureRollupHourly,
    PaymentRollupDaily,
    PaymentRollupHourly,
)
from tests.support.factories import payment, write

# IST midnight of 2026-11-03 is 2026-11-02 18:30 UTC; data straddles several IST midnights.
IST_MIDNIGHT = datetime(2026, 11, 2, 18, 30, tzinfo=UTC)
STATUSES = ["created", "authorized", "captured", "refunded", "failed"]
METHODS = ["card", "upi", "netbanking", None]
COUNTRIES = ["IN", "US", None]
CURRENCIES = ["INR", "USD"]
NETWORKS = ["Visa", "MasterCard", None]
UPI_APPS = ["okhdfcbank", "ybl", None]
REASONS = ["insufficient_balance", "payment_timed_out", None]
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(6)]


def payment_rows() -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries(
        {
            # Minutes around an IST midnight, including exact bucket boundaries (multiples of 30).
            "minutes": st.one_of(
                st.integers(-3 * 1440, 3 * 1440), st.integers(-96, 96).map(lambda n: n * 30)
            ),
            "second": st.integers(0, 59),
            "status": st.sampled_from(STATUSES),
            "method": st.sampled_from(METHODS),
            "country": st.sampled_from(COUNTRIES),
            "currency": st.sampled_from(CURRENCIES),
            "amount": st.integers(100, 5_000_000),
            "card_network": st.sampled_from(NETWORKS),
            "upi_app": st.sampled_from(UPI_APPS),
            "error_reason": st.sampled_from(REASONS),
        }
    )
    return st.lists(row, min_size=0, max_size=40)


def filter_strategy() -> st.SearchStrategy[Filters]:
    return st.builds(
        lambda start, length, currency, method, country: Filters(
            date_from=start,
            date_to=start + timedelta(days=length) if start else None,
            currency=currency,
            method=method,
            country=country,
        ),
        st.sampled_from([None, *DAYS[:4]]),
        st.integers(0, 2),
        st.sampled_from([None, *CURRENCIES]),
        st.sampled_from([None, "card", "upi"]),
        st.sampled_from([None, "IN", "US", "unknown"]),
    )


def to_rows(generated: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for n, item in enumerate(generated):
        created = IST_MIDNIGHT + timedelta(minutes=item["minutes"], seconds=item["second"])
        rows.append(
            payment(
                f"pay_p{n}",
                created_at=created,
                state_at=created,
                status=item["status"],
                method=item["method"],
                country=item["country"],
                country_source="phone" if item["country"] else "unknown",
                currency=item["currency"],
                amount=item["amount"],
                card_network=item["card_network"],
                upi_app=item["upi_app"],
                error_reason=item["error_reason"] if item["status"] == "failed" else None,
                error_source="customer" if item["status"] == "failed" else None,
            )
        )
    return rows


def matches(row: dict[str, Any], filters: Filters) -> bool:
    start, end = filters.utc_range()
    if start is not None and row["created_at"] < start:
        return False
    if end is not None and row["created_at"] >= end:
        return False
    if filters.currency and row["currency"] != filters.currency:
        return False
    if filters.method and row["method"] != filters.method:
        return False
    if filters.country:
        wanted = None if filters.country == "unknown" else filters.country
        if row["country"] != wanted:
            return False
    return True


def key_of(row: dict[str, Any], by: str) -> Any:
    if by == "day":
        return row["created_at"].astimezone(IST).date()
    if by == "hour_of_day":
        return row["created_at"].astimezone(IST).hour
    if by == "hour":
        return rollups.bucket_start(row["created_at"])
    return row[by] or "unknown"


def expected_rates(
    rows: list[dict[str, Any]], by: str, filters: Filters
) -> dict[Any, tuple[int, int, int, int]]:
    counts: dict[Any, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if not matches(row, filters):
            continue
        if by in ("card_network", "upi_app") and row[by] is None:
            continue  # a breakdown only counts the payments that have that attribute
        tally = counts[key_of(row, by)]
        status = row["status"]
        tally["attempts"] += status != "created"
        tally["successes"] += status in ("authorized", "captured", "refunded")
        tally["failures"] += status == "failed"
        tally["created"] += status == "created"
    return {
        key: (tally["attempts"], tally["successes"], tally["failures"], tally["created"])
        for key, tally in counts.items()
    }


def actual_rates(engine: Engine, by: str, filters: Filters) -> dict[Any, tuple[int, int, int, int]]:
    frame = success.success_rates(engine, by, filters)
    result = {}
    for record in frame.to_dict(orient="records"):
        key = record[by]
        if by == "hour":
            key = key.to_pydatetime()
        result[key] = (record["attempts"], record["successes"], record["failures"], record["created"])
    return result


def expected_amounts(rows: list[dict[str, Any]], filters: Filters) -> dict[str, tuple[int, int]]:
    amounts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if matches(row, filters):
            amounts[row["currency"]][0] += 0  # a currency with only `created` payments still has a row
            if row["status"] != "created":
                amounts[row["currency"]][0] += row["amount"]
            if row["status"] in ("authorized", "captured", "refunded"):
                amounts[row["currency"]][1] += row["amount"]
    return {currency: (pair[0], pair[1]) for currency, pair in amounts.items()}


def load(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Write in two batches with incremental refreshes, then change the status of old payments."""
    with engine.begin() as conn:
        conn.execute(delete(Payment))
        conn.execute(delete(PaymentRollupHourly))
        conn.execute(delete(PaymentFailureRollupHourly))
        conn.execute(delete(PaymentRollupDaily))
        conn.execute(delete(PaymentFailureRollupDaily))
    half = len(rows) // 2
    for batch in (rows[:half], rows[half:]):
        with engine.begin() as conn:
            write(conn, "payments", *batch)
            rollups.refresh_payment_hours(conn, [row["created_at"] for row in batch])
    changed = [row for row in rows if row["status"] == "authorized"][:3]
    if changed:
        with engine.begin() as conn:
            for row in changed:
                row["status"] = "captured"
                conn.execute(update(Payment).where(Payment.id == row["id"]).values(status="captured"))
            rollups.refresh_payment_hours(conn, [row["created_at"] for row in changed])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    generated=payment_rows(),
    filters=filter_strategy(),
    by=st.sampled_from(
        ["method", "country", "currency", "card_network", "upi_app", "day", "hour", "hour_of_day"]
    ),
)
def test_rollup_answers_equal_raw_answers(engine: Engine, generated, filters: Filters, by: str) -> None:
    rows = to_rows(generated)
    load(engine, rows)

    assert actual_rates(engine, by, filters) == expected_rates(rows, by, filters)

    kpis = success.kpis(engine, filters)
    totals = expected_rates(rows, "currency", filters)
    assert kpis.attempts == sum(value[0] for value in totals.values())
    assert kpis.successes == sum(value[1] for value in totals.values())
    amounts = {
        record["currency"]: (record["attempt_amount"], record["success_amount"])
        for record in kpis.per_currency.to_dict(orient="records")
    }
    assert amounts == expected_amounts(rows, filters)

    reasons = success.failure_reasons(engine, filters, by=("error_reason",), limit=10)
    expected_reasons = Counter(
        row["error_reason"] or "unknown"
        for row in rows
        if row["status"] == "failed" and matches(row, filters)
    )
    assert dict(zip(reasons["error_reason"], reasons["failures"], strict=True)) == dict(expected_reasons)


def test_bucket_is_the_ist_hour() -> None:
    assert rollups.bucket_start(datetime(2026, 11, 2, 18, 29, 59, tzinfo=UTC)) == datetime(
        2026, 11, 2, 17, 30, tzinfo=UTC
    )
    assert rollups.bucket_start(datetime(2026, 11, 2, 18, 30, tzinfo=UTC)) == datetime(
        2026, 11, 2, 18, 30, tzinfo=UTC
    )
    # One UTC hour overlaps two IST-hour buckets; both are refreshed.
    assert rollups.buckets_for_hours([datetime(2026, 11, 2, 18, 0, tzinfo=UTC)]) == [
        datetime(2026, 11, 2, 17, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 18, 30, tzinfo=UTC),
    ]


def test_refresh_is_idempotent_and_rebuild_matches(engine: Engine) -> None:
    rows = to_rows(
        [
            {
                "minutes": n * 37 - 600,
                "second": n,
                "status": STATUSES[n % 5],
                "method": METHODS[n % 4],
                "country": COUNTRIES[n % 3],
                "currency": CURRENCIES[n % 2],
                "amount": 1000 + n,
                "card_network": NETWORKS[n % 3],
                "upi_app": UPI_APPS[n % 3],
                "error_reason": REASONS[n % 3],
            }
            for n in range(60)
        ]
    )
    hours = [row["created_at"] for row in rows]
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rollups.refresh_payment_hours(conn, hours)
        rollups.refresh_payment_hours(conn, hours)
    with engine.connect() as conn:
        incremental = sorted(tuple(row) for row in conn.execute(select(PaymentRollupHourly.__table__)))
        incremental_daily = sorted(tuple(row) for row in conn.execute(select(PaymentRollupDaily.__table__)))
        total = conn.execute(
            select(func.sum(PaymentRollupHourly.attempts + PaymentRollupHourly.created_count)).where(
                PaymentRollupHourly.dimension == "all"
            )
        ).scalar_one()
    assert total == 60
    with engine.begin() as conn:
        buckets = rollups.rebuild_all(conn)
    with engine.connect() as conn:
        rebuilt = sorted(tuple(row) for row in conn.execute(select(PaymentRollupHourly.__table__)))
        rebuilt_daily = sorted(tuple(row) for row in conn.execute(select(PaymentRollupDaily.__table__)))
    assert rebuilt == incremental
    assert rebuilt_daily == incremental_daily and len(rebuilt_daily) > 0
    assert buckets == len({rollups.bucket_start(ts) for ts in hours})


@pytest.mark.parametrize("by", ["network", "issuer", "upi"])
def test_dimension_aliases(by: str) -> None:
    assert success.normalise_dimension(by) in success.DIMENSIONS


def test_unknown_dimension_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        success.normalise_dimension("colour")


BANKS = ["HDFC", "SBIN", None]
WALLETS = ["paytm", None]
CARD_TYPES = ["credit", "debit", None]
ISSUERS = ["HDFC", None]
UPI_FLOWS = ["collect", "intent", None]
COUNTRY_SOURCES = ["phone", "notes", "unknown"]


def drilldown_rows() -> list[dict[str, Any]]:
    """Payments spread over every drill-down dimension, with missing values in each (co-prime cycles)."""
    rows = []
    for n in range(90):
        created = IST_MIDNIGHT + timedelta(minutes=n * 29 - 700, seconds=n)
        status = STATUSES[n % 5]
        rows.append(
            payment(
                f"pay_d{n:02}",
                created_at=created,
                state_at=created,
                status=status,
                method=METHODS[n % 4],
                country=COUNTRIES[n % 3],
                country_source=COUNTRY_SOURCES[(n // 2) % 3],
                currency=CURRENCIES[n % 2],
                bank=BANKS[(n // 4) % 3],
                wallet=WALLETS[(n // 3) % 2],
                card_network=NETWORKS[(n // 2) % 3],
                card_type=CARD_TYPES[(n // 3) % 3],
                card_issuer=ISSUERS[(n // 5) % 2],
                upi_flow=UPI_FLOWS[(n // 7) % 3],
                upi_app=UPI_APPS[(n // 11) % 3],
                error_reason=REASONS[n % 3] if status == "failed" else None,
                error_source=["customer", "bank", None][(n // 5) % 3] if status == "failed" else None,
                error_step=["payment_authorization", None][(n // 10) % 2] if status == "failed" else None,
            )
        )
    return rows


def test_drilldown_lists_exactly_the_payments_behind_each_bar(engine: Engine) -> None:
    rows = drilldown_rows()
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rollups.refresh_payment_hours(conn, [row["created_at"] for row in rows])
    one_day = Filters(date_from=date(2026, 11, 3), date_to=date(2026, 11, 3))
    for filters in (one_day, replace(one_day, country="unknown"), Filters(currency="USD")):
        for by in [name for name in success.DRILLDOWN_DIMENSIONS if name in success.DIMENSIONS]:
            bars = success.success_rates(engine, by, filters)
            assert not bars.empty, (by, filters)
            for bar in bars.to_dict(orient="records"):
                value = str(bar[by])
                behind = [
                    row
                    for row in rows
                    if matches(row, filters)
                    # a breakdown bar only counts the payments that have the attribute
                    and (row[by] is not None or by not in rollups.BREAKDOWN_DIMENSIONS)
                    and key_of(row, by) == value
                ]
                attempted = success.payments_drilldown(
                    engine, filters, dimension=by, value=value, outcome="attempt", limit=1000
                )
                where = (by, value, filters)
                assert len(attempted) == bar["attempts"], where
                assert set(attempted["id"]) == {r["id"] for r in behind if r["status"] != "created"}, where
                succeeded = success.payments_drilldown(
                    engine, filters, dimension=by, value=value, outcome="success", limit=1000
                )
                assert len(succeeded) == bar["successes"], where
                everything = success.payments_drilldown(
                    engine, filters, dimension=by, value=value, limit=1000
                )
                assert len(everything) == bar["attempts"] + bar["created"], where
                assert set(everything["id"]) == {r["id"] for r in behind}, where
        for by in ("error_source", "error_step", "error_reason", "method", "country"):
            reasons = success.failure_reasons(engine, filters, by=(by,), limit=100)
            assert not reasons.empty, (by, filters)
            for bar in reasons.to_dict(orient="records"):
                value = str(bar[by])
                failed = success.payments_drilldown(
                    engine, filters, dimension=by, value=value, outcome="failure", limit=1000
                )
                assert set(failed["id"]) == {
                    row["id"]
                    for row in rows
                    if matches(row, filters) and row["status"] == "failed" and key_of(row, by) == value
                }, (by, value, filters)
                assert len(failed) == bar["failures"], (by, value, filters)


def test_drilldown_dimension_is_validated(engine: Engine) -> None:
    with engine.begin() as conn:
        write(conn, "payments", payment("pay_ybl", method="upi", upi_app="ybl"), payment("pay_card"))
    by_alias = success.payments_drilldown(engine, dimension="upi", value="ybl", outcome="attempt")
    assert list(by_alias["id"]) == ["pay_ybl"]
    with pytest.raises(ValueError, match="cannot drill down by 'day'"):
        success.payments_drilldown(engine, dimension="day", value="2026-11-03")
    with pytest.raises(ValueError, match="cannot drill down by 'colour'"):
        success.payments_drilldown(engine, dimension="colour", value="red")
    with pytest.raises(ValueError, match="go together"):
        success.payments_drilldown(engine, dimension="bank")


def test_missing_and_stored_unknown_are_one_unknown_group(engine: Engine) -> None:
    """A value Razorpay left out ("" in the rollups) and one it sent as "unknown" are both shown as
    "unknown": their counts add up in one row instead of one overwriting the other."""
    rows = [
        payment("pay_u1", status="failed", method=None, bank="unknown", error_reason=None),
        payment("pay_u2", status="failed", method="unknown", bank="unknown", error_reason="unknown"),
        payment("pay_u3", status="captured", method=None, bank="HDFC"),
        payment("pay_u4", status="failed", method="card", bank="HDFC", error_reason="incorrect_otp"),
    ]
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rollups.rebuild_all(conn)

    by_method = success.success_rates(engine, "method").set_index("method")
    assert by_method.loc["unknown", "attempts"] == 3
    assert by_method.loc["unknown", "successes"] == 1
    assert list(by_method.index).count("unknown") == 1

    reasons = success.failure_reasons(engine, by=("error_reason",))
    assert dict(zip(reasons["error_reason"], reasons["failures"], strict=True)) == {
        "unknown": 2,
        "incorrect_otp": 1,
    }


def test_filtering_by_unknown_method_selects_the_payments_without_one(engine: Engine) -> None:
    rows = [
        payment("pay_m1", status="captured", method=None),
        payment("pay_m2", status="failed", method=None, error_reason="payment_timed_out"),
        payment("pay_m3", status="captured", method="upi"),
    ]
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rollups.rebuild_all(conn)
    unknown = Filters(method="unknown")
    kpis = success.kpis(engine, unknown)
    assert (kpis.attempts, kpis.successes) == (2, 1)
    drilled = success.payments_drilldown(engine, unknown)
    assert sorted(drilled["id"]) == ["pay_m1", "pay_m2"]
