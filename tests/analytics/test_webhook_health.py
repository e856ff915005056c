"""Webhook health on hand-made deliveries: counts, lag percentiles, rejections, silences, missing events."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert

from analytics.filters import Filters
from analytics.webhook_health import webhook_health
from data.models import WebhookRejection
from tests.support.factories import payment, webhook_event, write

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DAY_START = datetime(2026, 11, 18, 18, 30, tzinfo=UTC)  # IST midnight of 2026-11-19


def test_per_type_and_day(engine: Engine) -> None:
    with engine.begin() as conn:
        # 100 captured events with lags 1..100 s on IST day 2026-11-19; one delivered three times.
        rows = []
        for n in range(1, 101):
            at = DAY_START + timedelta(minutes=n)
            rows.append(
                webhook_event(
                    f"evt_{n:03d}",
                    "payment.captured",
                    created_at=at,
                    received_at=at + timedelta(seconds=n),
                    last_received_at=at + timedelta(seconds=n),
                    lag_ms=n * 1000,
                    delivery_count=3 if n == 7 else 1,
                    payment_id=f"pay_{n}",
                    entity_status="captured",
                )
            )
        # A late payment.failed on the previous IST day (23:50 IST on the 18th).
        late_at = DAY_START - timedelta(minutes=10)
        rows.append(
            webhook_event(
                "evt_late",
                "payment.failed",
                created_at=late_at,
                received_at=late_at + timedelta(minutes=20),
                last_received_at=late_at + timedelta(minutes=20),
                lag_ms=20 * 60_000,
                entity_status="failed",
            )
        )
        write(conn, "webhook_events", *rows)
        conn.execute(
            insert(WebhookRejection),
            [
                {
                    "received_at": DAY_START + timedelta(hours=1),
                    "reason": "bad_signature",
                    "event_type": "payment.authorized",
                    "body_sha256": "0" * 64,
                    "body_size": 10,
                },
                {
                    "received_at": DAY_START + timedelta(hours=2),
                    "reason": "bad_signature",
                    "event_type": "payment.authorized",
                    "body_sha256": "1" * 64,
                    "body_size": 10,
                },
                {
                    "received_at": DAY_START + timedelta(hours=3),
                    "reason": "malformed_json",
                    "event_type": None,
                    "body_sha256": "2" * 64,
                    "body_size": 3,
                },
            ],
        )
    health = webhook_health(engine, now=NOW, late_minutes=5)
    table = {
        (record["day"], record["event_type"]): record
        for record in health.by_type_day.to_dict(orient="records")
    }
    captured = table[(date(2026, 11, 19), "payment.captured")]
    assert (
        captured["deliveries"],
        captured["unique_events"],
        captured["duplicates"],
        captured["late_events"],
    ) == (
        102,
        100,
        2,
        0,
    )
    assert (captured["lag_p50_ms"], captured["lag_p95_ms"], captured["lag_p99_ms"]) == (
        50_000,
        95_000,
        99_000,
    )
    failed = table[(date(2026, 11, 18), "payment.failed")]
    assert (failed["unique_events"], failed["late_events"], failed["lag_p99_ms"]) == (1, 1, 1_200_000)
    assert list(health.duplicates["event_id"]) == ["evt_007"]
    assert list(health.late["event_id"]) == ["evt_late"]
    rejections = {
        (record["reason"], record["event_type"]): record["rejections"]
        for record in health.rejections.to_dict(orient="records")
    }
    assert rejections == {("bad_signature", "payment.authorized"): 2, ("malformed_json", "unknown"): 1}

    one_day = webhook_health(
        engine, Filters(date_from=date(2026, 11, 18), date_to=date(2026, 11, 18)), now=NOW
    )
    assert list(one_day.by_type_day["event_type"]) == ["payment.failed"]
    assert one_day.rejections.empty


def test_silences_and_missing(engine: Engine) -> None:
    start = NOW - timedelta(hours=6)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_a", created_at=start),
            payment("pay_in_gap", created_at=start + timedelta(hours=1), amount=4_200),
            payment("pay_b", created_at=start + timedelta(hours=2)),
        )
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_a",
                "payment.captured",
                payment_id="pay_a",
                entity_status="captured",
                created_at=start,
                received_at=start + timedelta(seconds=1),
            ),
            webhook_event(
                "evt_b",
                "payment.captured",
                payment_id="pay_b",
                entity_status="captured",
                created_at=start + timedelta(hours=2),
                received_at=start + timedelta(hours=2, seconds=1),
            ),
        )
    health = webhook_health(engine, now=NOW, silence_minutes=60)
    assert health.coverage_start == start
    assert len(health.silences) == 1
    silence = health.silences.iloc[0]
    assert (silence["minutes"], silence["payments_created"]) == (120, 2)  # pay_in_gap and pay_b
    assert list(zip(health.missing["expected_event"], health.missing["entity_id"], strict=True)) == [
        ("payment.captured", "pay_in_gap")
    ]
    assert health.missing.iloc[0]["amount"] == 4_200
    assert health.as_dict()["missing"][0]["created_at"] == (start + timedelta(hours=1)).isoformat()


def test_missing_events_are_counted_not_measured_by_the_table(engine: Engine) -> None:
    # During a replay the card read exactly the table's limit; it must say the true number.
    start = NOW - timedelta(hours=6)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_a", created_at=start),
            *(payment(f"pay_gap{n}", created_at=start + timedelta(minutes=10 + n)) for n in range(7)),
            payment("pay_b", created_at=start + timedelta(hours=2)),
        )
        write(
            conn,
            "webhook_events",
            webhook_event("evt_a", "payment.captured", payment_id="pay_a", entity_status="captured",
                          created_at=start, received_at=start + timedelta(seconds=1)),
            webhook_event("evt_b", "payment.captured", payment_id="pay_b", entity_status="captured",
                          created_at=start + timedelta(hours=2), received_at=start + timedelta(hours=2, seconds=1)),
        )  # fmt: skip
    limited = webhook_health(engine, now=NOW, limit=3)
    assert len(limited.missing) == 3
    assert limited.missing_total == 7
    assert webhook_health(engine, now=NOW).missing_total == 7
    assert limited.as_dict()["missing_total"] == 7


def test_conflicts_are_those_of_the_period(engine: Engine) -> None:
    # Two payments the API shows failed, each with a payment.captured event: one event on IST day
    # 2026-11-19, one the day before. The page's period decides which conflict it lists.
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_today", created_at=DAY_START + timedelta(hours=1), status="failed"),
            payment("pay_yesterday", created_at=DAY_START - timedelta(hours=1), status="failed"),
        )
        write(
            conn,
            "webhook_events",
            *(
                webhook_event(
                    f"evt_{payment_id}",
                    "payment.captured",
                    payment_id=payment_id,
                    entity_status="captured",
                    created_at=at,
                    received_at=at + timedelta(seconds=1),
                )
                for payment_id, at in (
                    ("pay_today", DAY_START + timedelta(hours=1)),
                    ("pay_yesterday", DAY_START - timedelta(hours=1)),
                )
            ),
        )
    everything = webhook_health(engine, now=NOW)
    assert sorted(everything.conflicts["payment_id"]) == ["pay_today", "pay_yesterday"]
    one_day = webhook_health(
        engine, Filters(date_from=date(2026, 11, 19), date_to=date(2026, 11, 19)), now=NOW
    )
    assert list(one_day.conflicts["payment_id"]) == ["pay_today"]
    assert (one_day.conflicts.iloc[0]["webhook_status"], one_day.conflicts.iloc[0]["api_status"]) == (
        "captured",
        "failed",
    )


def test_silences_are_every_gap_between_consecutive_deliveries_of_the_period(engine: Engine) -> None:
    # Deliveries at irregular times over a day, with gaps just under, exactly at and well over an hour,
    # one right at the start of the period and one at its end; a payment created inside every gap.
    # The index walk must find exactly the gaps a pass over every pair of deliveries finds.
    offsets = [0, 1, 59, 119, 120, 121, 300, 301, 302, 361, 600, 660, 661, 1200, 1320, 1439]
    received = [DAY_START + timedelta(minutes=m, seconds=7) for m in offsets]
    with engine.begin() as conn:
        write(
            conn,
            "webhook_events",
            *(
                webhook_event(f"evt_{n:02d}", "payment.captured", created_at=at, received_at=at)
                for n, at in enumerate(received)
            ),
        )
        write(
            conn,
            "payments",
            *(
                payment(f"pay_{n:02d}", created_at=before + (after - before) / 2)
                for n, (before, after) in enumerate(itertools.pairwise(received))
            ),
        )
    one_day = Filters(date_from=date(2026, 11, 19), date_to=date(2026, 11, 19))
    for minutes in (1, 59, 60, 61, 240):
        expected = [
            (before, after)
            for before, after in itertools.pairwise(received)
            if after - before >= timedelta(minutes=minutes)
        ]
        health = webhook_health(engine, one_day, now=NOW, silence_minutes=minutes)
        found = list(zip(health.silences["start"], health.silences["end"], strict=True))
        assert found == expected, minutes
        assert expected, minutes  # every threshold here has gaps to find
