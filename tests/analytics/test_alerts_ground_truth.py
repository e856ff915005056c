"""Every rule at once on one database with planted conditions: each planted condition alerts once, and
nothing else does — the same database a week earlier (no plants yet) opens no alert at all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert

from analytics import alerts
from analytics.reconcile import reconcile
from data.models import SyncCheckpoint
from data.rollups import rebuild_all
from tests.analytics.test_alerts import AFTER_DROP_HOUR, DROP_HOUR, _hour_of_traffic, _rejections
from tests.support.factories import settlement_line, webhook_event, write

AT = AFTER_DROP_HOUR  # Tue 24 Nov 2026, 15:10 IST


def _events_for(rows: list[dict[str, Any]], *, skip_failed: bool) -> list[dict[str, Any]]:
    events = []
    for row in rows:
        kind = "payment.captured" if row["status"] == "captured" else "payment.failed"
        if skip_failed and kind == "payment.failed":
            continue
        received = row["created_at"] + timedelta(seconds=2)
        events.append(
            webhook_event(
                f"evt_{row['id']}",
                kind,
                created_at=row["created_at"],
                received_at=received,
                last_received_at=received,
                lag_ms=2_000,
                payment_id=row["id"],
                entity_status=row["status"],
            )
        )
    return events


def _plant(engine: Engine) -> None:
    # A real drop: HDFC netbanking at 60% in the hour, 90% in the same hour of the 4 Tuesdays before.
    now_rows = _hour_of_traffic("now", DROP_HOUR, hdfc_successes=60)
    baseline = [
        _hour_of_traffic(f"w{week}", DROP_HOUR - timedelta(weeks=week), hdfc_successes=90)
        for week in range(1, 5)
    ]
    # A silence: payment.failed events stop for the hour (they came the week before).
    events = _events_for(now_rows, skip_failed=True) + _events_for(baseline[0], skip_failed=False)
    # Settled: every old capture but one (an overdue settlement), and nothing recent is due yet.
    old = [row for week in baseline for row in week if row["status"] == "captured"]
    overdue = old[0]
    lines = [
        settlement_line(
            row["id"], settled_at=row["created_at"] + timedelta(days=2), created_at=row["created_at"]
        )
        for row in old[1:]
    ]
    with engine.begin() as conn:
        write(conn, "payments", *now_rows, *(row for week in baseline for row in week))
        write(conn, "webhook_events", *events)
        write(conn, "settlement_lines", *lines)
        rebuild_all(conn)
        # A stale sync: payments stopped 3 hours ago; orders are fresh.
        conn.execute(
            insert(SyncCheckpoint),
            [
                {"entity": "payments", "synced_until": AT - timedelta(hours=3), "run_id": None},
                {"entity": "orders", "synced_until": AT - timedelta(minutes=5), "run_id": None},
            ],
        )
    # A rejected-signature spike in the last hour.
    _rejections(engine, AT, "bad_signature", 6)
    reconcile(engine, now=AT, rules=["captured_not_settled"], settlement_days=3)
    assert overdue["status"] == "captured"


def test_every_planted_condition_alerts_and_nothing_else(engine: Engine) -> None:
    _plant(engine)
    quiet = alerts.evaluate(engine, at=AT - timedelta(days=7))
    assert quiet.fired == [], [alert["key"] for alert in quiet.fired]

    result = alerts.evaluate(engine, at=AT)
    assert sorted(alert["key"] for alert in result.fired) == [
        "settlement_overdue:INR",
        "success_drop:method=netbanking|bank=HDFC",
        "sync_stale:sync",
        "webhook_signature_rejections:receiver",
        "webhook_silence:payment.failed",
    ]
    by_rule = {alert["rule"]: alert for alert in result.fired}
    assert by_rule["settlement_overdue"]["evidence"]["payments"] == 1
    assert by_rule["sync_stale"]["evidence"]["entities"] == {
        "payments": (AT - timedelta(hours=3)).isoformat()
    }
    assert by_rule["webhook_silence"]["evidence"]["api_activity"] == 60  # failures: HDFC 40, ICIC 10, card 10
    # Evaluating again changes nothing: one alert per condition.
    again = alerts.evaluate(engine, at=AT + timedelta(minutes=1))
    assert again.fired == [] and again.resolved == [] and again.still_firing == 5
