"""A replay of past deliveries (the demo's sandbox history) declares each event's first-send time in its
signed body: lag is measured to that time, not to the replay's receipt days later, so the history keeps
its own lateness per day. A declared time outside [created_at, receipt] is ignored and noted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from analytics.filters import Filters
from analytics.webhook_health import webhook_health
from data.ist import ist_midnight
from data.models import WebhookEvent, WebhookLagRollupDaily
from data.rollups import lag_bucket_ms, rebuild_webhook_lag
from sync.webhooks import app as receiver_app
from sync.webhooks.intake import REPLAY_KEY
from tests.sync.webhooks.events import envelope, payment, post

# The replay happens on 2026-11-20 (midday IST); the history it carries is days older.
RECEIVED = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
HISTORY_DAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_app, "received_now", lambda: RECEIVED)


def replayed(event: str, created_at: datetime, sent_at_ms: Any, **entities: dict[str, Any]) -> dict[str, Any]:
    body = envelope(event, int(created_at.timestamp()), **entities)
    body[REPLAY_KEY] = {"sent_at_ms": sent_at_ms}
    return body


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.event_id: row for row in conn.execute(select(WebhookEvent))}


def test_a_replayed_event_keeps_its_history_lag_and_is_not_flagged_as_a_replay_attack(
    receiver: TestClient, engine: Engine
) -> None:
    happened = ist_midnight(HISTORY_DAY) + timedelta(hours=11)
    sent_ms = int(happened.timestamp() * 1000) + 2_450
    body = replayed(
        "payment.captured", happened, sent_ms, payment=payment(created_at=int(happened.timestamp()))
    )
    assert post(receiver, body, event_id="evt_hist").status_code == 200
    event = stored(engine)["evt_hist"]
    assert event.created_at == happened
    assert event.received_at == RECEIVED
    assert event.sent_at == happened + timedelta(milliseconds=2_450)
    assert event.lag_ms == 2_450  # not the four days between the event and the replay
    assert event.interpretation is None


def test_a_late_event_of_the_history_is_late_by_its_planted_lateness(
    receiver: TestClient, engine: Engine
) -> None:
    happened = ist_midnight(HISTORY_DAY) + timedelta(hours=9)
    sent_ms = int(happened.timestamp() * 1000) + 26 * 3_600_000  # sent a day and two hours later
    assert (
        post(
            receiver, replayed("payment.failed", happened, sent_ms, payment=payment()), event_id="e"
        ).status_code
        == 200
    )
    event = stored(engine)["e"]
    assert event.lag_ms == 26 * 3_600_000
    # Late beyond Razorpay's retry horizon even in its own history: flagged as before.
    assert event.interpretation is not None and "24 h retry horizon" in event.interpretation


@pytest.mark.parametrize(
    ("sent_at_ms", "why"),
    [
        (int((RECEIVED + timedelta(hours=1)).timestamp() * 1000), "not between"),  # after the receipt
        (int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000), "not between"),  # before the event
        ("1795000000000", "not an epoch"),
        (True, "not an epoch"),
        (2**63, "not an epoch"),
        (None, "not an epoch"),
    ],
)
def test_a_declared_send_time_outside_the_event_and_its_receipt_is_ignored_and_noted(
    receiver: TestClient, engine: Engine, sent_at_ms: Any, why: str
) -> None:
    happened = ist_midnight(HISTORY_DAY) + timedelta(hours=10)
    body = replayed("payment.captured", happened, sent_at_ms, payment=payment())
    assert post(receiver, body, event_id="evt_odd").status_code == 200
    event = stored(engine)["evt_odd"]
    assert event.sent_at is None
    assert event.lag_ms == int((RECEIVED - happened).total_seconds() * 1000)
    assert event.interpretation is not None and why in event.interpretation


def test_a_send_time_within_the_clock_skew_of_the_receipt_is_clamped_to_it(
    receiver: TestClient, engine: Engine
) -> None:
    happened = RECEIVED - timedelta(seconds=30)
    ahead_ms = int((RECEIVED + timedelta(seconds=20)).timestamp() * 1000)
    assert (
        post(
            receiver, replayed("payment.captured", happened, ahead_ms, payment=payment()), event_id="e"
        ).status_code
        == 200
    )
    event = stored(engine)["e"]
    assert (event.sent_at, event.lag_ms, event.interpretation) == (RECEIVED, 30_000, None)


def test_a_replayed_history_has_a_lag_line_per_day(receiver: TestClient, engine: Engine) -> None:
    # Three IST days of history, replayed in one go: each day keeps its own lags.
    planted = {HISTORY_DAY: (800, 1_900), HISTORY_DAY + timedelta(days=1): (400, 2_600)}
    planted[HISTORY_DAY + timedelta(days=2)] = (1_200, 30 * 60_000)
    for day, lags in planted.items():
        for n, lag in enumerate(lags):
            happened = ist_midnight(day) + timedelta(hours=8 + n)
            body = replayed(
                "payment.captured",
                happened,
                int(happened.timestamp() * 1000) + lag,
                payment=payment(f"pay_{day:%d}{n}"),
            )
            assert post(receiver, body, event_id=f"evt_{day:%d}_{n}").status_code == 200
    health = webhook_health(
        engine,
        Filters(date_from=HISTORY_DAY, date_to=HISTORY_DAY + timedelta(days=2)),
        now=RECEIVED,
        late_minutes=5,
    )
    by_day = {row["day"]: row for row in health.by_type_day.to_dict(orient="records")}
    assert sorted(by_day) == sorted(planted)
    for day, lags in planted.items():
        assert (by_day[day]["lag_p50_ms"], by_day[day]["lag_p99_ms"]) == lags
        assert by_day[day]["late_events"] == sum(lag > 5 * 60_000 for lag in lags)


def test_the_receiver_keeps_the_lag_rollup_equal_to_a_rebuild(receiver: TestClient, engine: Engine) -> None:
    # New events over two IST days and several buckets, repeats of some (same id, same body), one
    # event posted twice within a batch boundary: the rollup the receiver counted up is what a
    # rebuild from webhook_events computes.
    happened = ist_midnight(HISTORY_DAY) + timedelta(hours=23, minutes=59)
    for n, lag in enumerate([5, 10, 11, 9_999, 10_001, 299_999, 300_000, 300_001, 3 * 86_400_000]):
        at = happened + timedelta(minutes=n)
        body = replayed(
            "payment.captured", at, int(at.timestamp() * 1000) + lag, payment=payment(f"pay_r{n}")
        )
        for _ in range(1 + n % 3):
            assert post(receiver, body, event_id=f"evt_r{n}").status_code == 200
    with engine.connect() as conn:
        counted = sorted(tuple(row) for row in conn.execute(select(WebhookLagRollupDaily.__table__)))
    with engine.begin() as conn:
        rebuild_webhook_lag(conn)
        rebuilt = sorted(tuple(row) for row in conn.execute(select(WebhookLagRollupDaily.__table__)))
    assert counted == rebuilt
    assert sum(row[3] for row in counted) == 9 and sum(row[4] for row in counted) == 18
    assert {row[0] for row in counted} == {HISTORY_DAY, HISTORY_DAY + timedelta(days=1)}
    assert [lag_bucket_ms(v) for v in (0, 5, 10, 11, 9_999, 10_001, 299_999, 300_000, 300_001)] == [
        0,
        10,
        10,
        20,
        10_000,
        10_100,
        300_000,
        300_000,
        301_000,
    ]
