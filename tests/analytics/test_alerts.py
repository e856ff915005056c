"""Alert rules and lifecycle on the real database: each rule fires on its condition with the numbers
behind it and stays quiet just below it; one alert per condition; ack and snooze are audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from analytics import alerts
from analytics.reconcile import reconcile
from data.ist import IST
from data.models import AuditLog, Downtime, Mismatch, SyncCheckpoint, WebhookRejection
from data.rollups import rebuild_all
from data.settings import AlertRules
from tests.support.factories import payment, settlement_line, webhook_event, write

# Tuesday 24 Nov 2026, 14:00 IST: the hour with the drop; the baseline is the four Tuesdays before.
DROP_HOUR = datetime(2026, 11, 24, 14, 0, tzinfo=IST).astimezone(UTC)
AFTER_DROP_HOUR = DROP_HOUR + timedelta(hours=1, minutes=10)
RULES = AlertRules()


def _attempts(
    prefix: str, hour: datetime, attempts: int, successes: int, **fields: Any
) -> list[dict[str, Any]]:
    """`attempts` payments spread over the hour starting at `hour`, the first `successes` captured."""
    rows = []
    for i in range(attempts):
        at = hour + timedelta(seconds=i * 3600 // attempts)
        status = "captured" if i < successes else "failed"
        rows.append(payment(f"pay_{prefix}_{i}", status=status, created_at=at, state_at=at, **fields))
    return rows


def _hour_of_traffic(prefix: str, hour: datetime, *, hdfc_successes: int) -> list[dict[str, Any]]:
    netbanking = {"method": "netbanking", "country": "IN", "country_source": "domestic_method"}
    return [
        *_attempts(f"{prefix}h", hour, 100, hdfc_successes, bank="HDFC", **netbanking),
        *_attempts(f"{prefix}i", hour, 100, 90, bank="ICIC", **netbanking),
        *_attempts(f"{prefix}c", hour, 100, 90, method="card", card_network="Visa", card_issuer="HDFC"),
    ]


def _load_drop(engine: Engine, *, hdfc_successes: int = 60) -> None:
    rows = _hour_of_traffic("now", DROP_HOUR, hdfc_successes=hdfc_successes)
    for week in range(1, 5):
        rows += _hour_of_traffic(f"w{week}", DROP_HOUR - timedelta(weeks=week), hdfc_successes=90)
    # 03:00 IST the same day: 3 failures out of 5 against a perfect baseline — too few to mean anything.
    night = datetime(2026, 11, 24, 3, 0, tzinfo=IST).astimezone(UTC)
    rows += _attempts("night", night, 5, 2, method="netbanking", bank="HDFC")
    for week in range(1, 5):
        rows += _attempts(
            f"night{week}", night - timedelta(weeks=week), 10, 10, method="netbanking", bank="HDFC"
        )
    with engine.begin() as conn:
        write(conn, "payments", *rows)
        rebuild_all(conn)


def test_a_real_drop_in_one_bank_fires_once_with_both_counts(engine: Engine) -> None:
    _load_drop(engine)
    result = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"])

    assert [alert["key"] for alert in result.fired] == ["success_drop:method=netbanking|bank=HDFC"]
    alert = result.fired[0]
    evidence = alert["evidence"]
    assert evidence["current"]["attempts"] == 100 and evidence["current"]["successes"] == 60
    assert evidence["baseline"]["attempts"] == 400 and evidence["baseline"]["successes"] == 360
    assert evidence["drop_points"] == 30.0
    assert evidence["window"] == {
        "start": DROP_HOUR.isoformat(),
        "end": (DROP_HOUR + timedelta(hours=1)).isoformat(),
    }
    # Netbanking and India are down only because of HDFC: named in the evidence, not alerts of their own.
    assert set(evidence["also_pulls_down"]) == {"method netbanking", "country IN"}
    assert evidence["downtime"] is None
    assert "60.0% (60 of 100 attempts)" in alert["message"]
    assert "90.0% (360 of 400)" in alert["message"]
    assert "14:00–15:00 IST" in alert["message"]
    assert (
        alert["link"] == "success-rates?period=custom&from=2026-11-24&to=2026-11-24&method=netbanking&by=bank"
    )
    behind = alerts.payments_behind(engine, alert, limit=1000)
    assert len(behind) == 100
    assert sum(row["status"] == "failed" for row in behind) == 40
    assert {row["bank"] for row in behind} == {"HDFC"}


def test_three_failures_out_of_five_at_night_do_not_fire(engine: Engine) -> None:
    _load_drop(engine)
    night_after = datetime(2026, 11, 24, 4, 10, tzinfo=IST)
    result = alerts.evaluate(engine, at=night_after, rules=RULES, only=["success_drop"])
    assert result.fired == []


def test_a_small_dip_inside_the_noise_does_not_fire(engine: Engine) -> None:
    _load_drop(engine, hdfc_successes=86)  # 86% against 90%: not significant at 100 attempts
    result = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"])
    assert result.fired == []
    assert result.found == {"success_drop": 0}


def test_one_alert_per_condition_then_resolved_when_it_clears(engine: Engine) -> None:
    _load_drop(engine)
    first = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"])
    again = alerts.evaluate(
        engine, at=AFTER_DROP_HOUR + timedelta(minutes=5), rules=RULES, only=["success_drop"]
    )
    assert len(first.fired) == 1
    assert again.fired == [] and again.resolved == [] and again.still_firing == 1
    assert len(alerts.list_alerts(engine)) == 1

    cleared = alerts.evaluate(
        engine, at=AFTER_DROP_HOUR + timedelta(hours=1), rules=RULES, only=["success_drop"]
    )
    assert [alert["id"] for alert in cleared.resolved] == [first.fired[0]["id"]]
    stored = alerts.get_alert(engine, first.fired[0]["id"])
    assert stored is not None
    assert stored["status"] == "resolved"
    assert stored["resolved_at"] == (AFTER_DROP_HOUR + timedelta(hours=1)).isoformat()


def _stale_checkpoint(engine: Engine, synced_until: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(delete(SyncCheckpoint))
        conn.execute(insert(SyncCheckpoint).values(entity="payments", synced_until=synced_until, run_id=None))


def test_acknowledge_and_snooze_are_audited_and_a_snooze_outlives_the_episode(engine: Engine) -> None:
    t0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    _stale_checkpoint(engine, t0)
    fired = alerts.evaluate(engine, at=t0 + timedelta(hours=3), rules=RULES, only=["sync_stale"]).fired
    assert [alert["key"] for alert in fired] == ["sync_stale:sync"]
    alert_id = fired[0]["id"]
    assert fired[0]["evidence"]["entities"] == {"payments": t0.isoformat()}

    acked = alerts.acknowledge(engine, alert_id, by="asha@ops", at=t0 + timedelta(hours=3, minutes=1))
    snoozed = alerts.snooze(
        engine, alert_id, until=t0 + timedelta(hours=8), by="asha@ops", at=t0 + timedelta(hours=3, minutes=2)
    )
    assert acked["acknowledged_by"] == "asha@ops"
    assert snoozed["snoozed_until"] == (t0 + timedelta(hours=8)).isoformat()
    with engine.connect() as conn:
        audit = conn.execute(
            select(AuditLog.actor, AuditLog.action, AuditLog.target).order_by(AuditLog.id)
        ).all()
    assert [tuple(row) for row in audit] == [
        ("asha@ops", "alert.acknowledge", f"alert:{alert_id}"),
        ("asha@ops", "alert.snooze", f"alert:{alert_id}"),
    ]

    # The sync catches up: resolved. It stalls again within the snooze: a new episode, still snoozed.
    _stale_checkpoint(engine, t0 + timedelta(hours=4))
    resolved = alerts.evaluate(engine, at=t0 + timedelta(hours=4), rules=RULES, only=["sync_stale"]).resolved
    assert [alert["id"] for alert in resolved] == [alert_id]
    again = alerts.evaluate(engine, at=t0 + timedelta(hours=7), rules=RULES, only=["sync_stale"]).fired
    assert len(again) == 1 and again[0]["id"] != alert_id
    assert again[0]["snoozed_until"] == (t0 + timedelta(hours=8)).isoformat()
    assert alerts.is_snoozed(again[0], t0 + timedelta(hours=7))
    assert [a["status"] for a in alerts.list_alerts(engine)] == ["firing", "resolved"]


def test_acknowledging_a_resolved_or_missing_alert_is_refused(engine: Engine) -> None:
    t0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    _stale_checkpoint(engine, t0)
    alert_id = alerts.evaluate(engine, at=t0 + timedelta(hours=3), only=["sync_stale"]).fired[0]["id"]
    _stale_checkpoint(engine, t0 + timedelta(hours=3))
    alerts.evaluate(engine, at=t0 + timedelta(hours=3), only=["sync_stale"])
    with pytest.raises(alerts.AlertError, match="resolved"):
        alerts.acknowledge(engine, alert_id, by="asha", at=t0)
    with pytest.raises(alerts.AlertNotFound, match="does not exist"):
        alerts.acknowledge(engine, 999, by="asha", at=t0)
    with pytest.raises(alerts.AlertError, match="not in the future"):
        alerts.snooze(engine, alert_id, until=t0, by="asha", at=t0)
    with pytest.raises(alerts.AlertError, match="required"):
        alerts.acknowledge(engine, alert_id, by=" ", at=t0)


def test_sync_within_the_limit_is_not_stale(engine: Engine) -> None:
    t0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    _stale_checkpoint(engine, t0)
    assert alerts.evaluate(engine, at=t0 + timedelta(minutes=119), only=["sync_stale"]).fired == []


def test_the_settlement_report_is_stale_only_when_a_finished_day_is_missing(engine: Engine) -> None:
    """Settlement lines are read one whole IST day at a time: at noon their checkpoint is the last
    midnight, twelve hours old, and that is fresh; the day before's report missing two hours after its
    end is stale."""
    midnight = datetime(2026, 11, 24, 0, 0, tzinfo=IST).astimezone(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(SyncCheckpoint),
            [
                {"entity": "settlement_lines", "synced_until": midnight, "run_id": None},
                {"entity": "payments", "synced_until": midnight + timedelta(hours=12), "run_id": None},
            ],
        )
    noon = midnight + timedelta(hours=12, minutes=5)
    assert alerts.evaluate(engine, at=noon, only=["sync_stale"]).found == {"sync_stale": 0}
    # Just after the next midnight the day's report may not be read yet: within the limit.
    next_midnight = midnight + timedelta(days=1)
    late = {"synced_until": next_midnight + timedelta(minutes=115)}  # payments stay fresh
    with engine.begin() as conn:
        conn.execute(update(SyncCheckpoint).where(SyncCheckpoint.entity == "payments").values(**late))
    assert alerts.evaluate(engine, at=next_midnight + timedelta(minutes=119), only=["sync_stale"]).fired == []
    fired = alerts.evaluate(engine, at=next_midnight + timedelta(minutes=121), only=["sync_stale"]).fired
    assert list(fired[0]["evidence"]["entities"]) == ["settlement_lines"]


def test_the_day_report_entities_are_the_syncs_day_partitioned_ones() -> None:
    from sync.entities import ENTITIES
    from sync.paging import ReportDays

    assert alerts.DAY_REPORT_ENTITIES == tuple(
        spec.name for spec in ENTITIES if isinstance(spec.partition, ReportDays)
    )


def _rejections(engine: Engine, at: datetime, reason: str, count: int) -> None:
    rows = [
        {
            "received_at": at - timedelta(minutes=i),
            "reason": reason,
            "event_id": f"evt_{reason}_{i}",
            "event_type": "payment.captured",
            "body_sha256": "0" * 64,
            "body_size": 10,
            "source_address": "127.0.0.1",
            "detail": None,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(WebhookRejection), rows)


def test_signature_rejection_spike_and_other_non_2xx_are_separate_alerts(engine: Engine) -> None:
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    _rejections(engine, at, "bad_signature", 5)
    _rejections(engine, at, "malformed_json", 4)
    result = alerts.evaluate(engine, at=at, only=["webhook_signature_rejections", "webhook_non_2xx"])
    assert [alert["key"] for alert in result.fired] == ["webhook_signature_rejections:receiver"]
    assert result.fired[0]["evidence"]["by_reason"] == {"bad_signature": 5}
    assert "RAZORPAY_WEBHOOK_SECRET" in result.fired[0]["message"]

    _rejections(engine, at + timedelta(minutes=1), "malformed_json", 1)
    later = alerts.evaluate(engine, at=at + timedelta(minutes=1), only=["webhook_non_2xx"])
    assert [alert["evidence"]["by_reason"] for alert in later.fired] == [{"malformed_json": 5}]
    assert "disables the webhook" in later.fired[0]["message"]


def test_delivery_lag_p95_over_the_threshold(engine: Engine) -> None:
    at = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    events = [
        webhook_event(
            f"evt_{i}",
            "payment.captured",
            created_at=at - timedelta(minutes=30),
            received_at=at - timedelta(minutes=1),
            last_received_at=at - timedelta(minutes=1),
            # 18 of 20 on time, 2 (10%) late by 10 minutes: p95 is late.
            lag_ms=600_000 if i < 2 else 1_000,
        )
        for i in range(20)
    ]
    with engine.begin() as conn:
        write(conn, "webhook_events", *events)
    fired = alerts.evaluate(engine, at=at, only=["webhook_delivery_lag"]).fired
    assert [alert["evidence"]["p95_seconds"] for alert in fired] == [600.0]
    assert fired[0]["evidence"]["events"] == 20
    # A stricter percentile is not the rule: with one late event of 20 (5%), p95 is on time.
    with engine.begin() as conn:
        write(conn, "webhook_events", {**events[1], "lag_ms": 1_000})
    assert alerts.evaluate(engine, at=at, only=["webhook_delivery_lag"]).found == {"webhook_delivery_lag": 0}


def test_webhook_silence_while_the_api_shows_captures(engine: Engine) -> None:
    hour = datetime(2026, 11, 24, 10, 0, tzinfo=IST).astimezone(UTC)
    at = hour + timedelta(hours=1, minutes=10)
    with engine.begin() as conn:
        write(conn, "payments", *_attempts("api", hour, 30, 30, method="upi"))
        rebuild_all(conn)
        # Subscribed: payment.captured events arrived the day before; none in the hour.
        write(
            conn,
            "webhook_events",
            webhook_event("evt_old", "payment.captured", created_at=hour - timedelta(days=1)),
        )
    fired = alerts.evaluate(engine, at=at, only=["webhook_silence"]).fired
    assert [alert["key"] for alert in fired] == ["webhook_silence:payment.captured"]
    assert fired[0]["evidence"]["api_activity"] == 30
    # payment.failed is quiet too, but no payment failed: no silence to report for it.

    with engine.begin() as conn:
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_new",
                "payment.captured",
                created_at=hour + timedelta(minutes=20),
                received_at=hour + timedelta(minutes=20),
            ),
        )
    assert alerts.evaluate(engine, at=at, only=["webhook_silence"]).resolved[0]["key"] == fired[0]["key"]


def test_a_replayed_history_back_tests_silence_from_when_each_event_was_first_sent(engine: Engine) -> None:
    """A replay (sandbox sender, `payops_replay.sent_at_ms`) delivers the hour's events days later: as of
    the hour's end they had been sent, so the hour was not silent; a live event counts from its receipt."""
    hour = datetime(2026, 11, 24, 10, 0, tzinfo=IST).astimezone(UTC)
    at = hour + timedelta(hours=1, minutes=10)
    replayed_at = hour + timedelta(days=3)
    with engine.begin() as conn:
        write(conn, "payments", *_attempts("api", hour, 30, 30, method="upi"))
        rebuild_all(conn)
        write(
            conn,
            "webhook_events",
            webhook_event("evt_old", "payment.captured", created_at=hour - timedelta(days=1), sent_at=None),
            webhook_event(
                "evt_replayed",
                "payment.captured",
                created_at=hour + timedelta(minutes=20),
                sent_at=hour + timedelta(minutes=20, seconds=3),
                received_at=replayed_at,
                last_received_at=replayed_at,
            ),
        )
    assert alerts.evaluate(engine, at=at, only=["webhook_silence"]).found == {"webhook_silence": 0}
    # Received late without a send time (a live delivery that arrived after `at`): not delivered by then.
    with engine.begin() as conn:
        write(
            conn,
            "webhook_events",
            webhook_event(
                "evt_replayed",
                "payment.captured",
                created_at=hour + timedelta(minutes=20),
                received_at=replayed_at,
                last_received_at=replayed_at,
                sent_at=None,
            ),
        )
    assert alerts.evaluate(engine, at=at, only=["webhook_silence"]).found == {"webhook_silence": 1}


def test_captured_value_past_t_plus_n_not_settled(engine: Engine) -> None:
    at = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # Tuesday; T+3 business days → created before Thu 19th
    old = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_unsettled", amount=250_000, created_at=old),
            payment("pay_settled", amount=100_000, created_at=old),
            payment("pay_recent", amount=900_000, created_at=at - timedelta(days=1)),
            payment("pay_failed", amount=700_000, status="failed", created_at=old),
        )
        write(conn, "settlement_lines", settlement_line("pay_settled", settled_at=old + timedelta(days=2)))
    # Before reconciliation has looked, nothing is known to be overdue; the alert reads its findings.
    assert alerts.evaluate(engine, at=at, settlement_days=3, only=["settlement_overdue"]).fired == []
    reconcile(engine, now=at, rules=["captured_not_settled"], settlement_days=3)
    fired = alerts.evaluate(engine, at=at, settlement_days=3, only=["settlement_overdue"]).fired
    assert [alert["key"] for alert in fired] == ["settlement_overdue:INR"]
    assert fired[0]["evidence"]["amount"] == 250_000 and fired[0]["evidence"]["payments"] == 1
    assert fired[0]["category"] == "money"
    assert "INR 2500.00" in fired[0]["message"]
    # Back-testing before the payments were due: not overdue then.
    assert alerts.evaluate(engine, at=at - timedelta(days=3), only=["settlement_overdue"]).resolved != []
    # The captured_not_settled mismatch is this alert's, not also a "new mismatch".
    assert alerts.evaluate(engine, at=at, only=["new_mismatches"]).found == {"new_mismatches": 0}


def _mismatches(engine: Engine, at: datetime, count: int, amount: int, *, prefix: str) -> None:
    rows = [
        {
            "key": f"rule:{prefix}{i}",
            "rule": "settlement_line_amount_mismatch",
            "severity": "high",
            "status": "open",
            "auto_resolved": False,
            "currency": "INR",
            "expected_amount": amount,
            "actual_amount": 0,
            "explanation": "test",
            "evidence": {},
            "first_seen_at": at - timedelta(hours=1),
            "last_seen_at": at - timedelta(hours=1),
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Mismatch), rows)


def test_new_mismatches_above_the_count(engine: Engine) -> None:
    at = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    _mismatches(engine, at, 9, 100, prefix="a")
    assert alerts.evaluate(engine, at=at, only=["new_mismatches"]).fired == []
    _mismatches(engine, at, 1, 100, prefix="b")
    fired = alerts.evaluate(engine, at=at, only=["new_mismatches"]).fired
    assert [alert["evidence"]["count"] for alert in fired] == [10]
    assert fired[0]["evidence"]["inr_at_stake"] == 1_000


def test_new_mismatches_above_the_amount(engine: Engine) -> None:
    at = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    _mismatches(engine, at, 2, 499_999, prefix="a")
    assert alerts.evaluate(engine, at=at, only=["new_mismatches"]).fired == []
    _mismatches(engine, at, 1, 2, prefix="b")  # ₹10,000.00 at stake in all
    fired = alerts.evaluate(engine, at=at, only=["new_mismatches"]).fired
    assert [alert["evidence"]["inr_at_stake"] for alert in fired] == [1_000_000]
    # Older than the window: not new.
    assert alerts.evaluate(engine, at=at + timedelta(hours=24), only=["new_mismatches"]).found == {
        "new_mismatches": 0
    }


def _downtime(id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id,
        "method": "netbanking",
        "bank": None,
        "issuer": None,
        "card_network": None,
        "card_type": None,
        "vpa_handle": None,
        "psp": None,
        "flow": None,
        "severity": "high",
        "status": "resolved",
        "scheduled": False,
        "begin": DROP_HOUR + timedelta(minutes=2),
        "end": DROP_HOUR + timedelta(minutes=47),
        "created_at": DROP_HOUR + timedelta(minutes=2),
        "state_at": DROP_HOUR + timedelta(minutes=47),
        "source": "webhook",
        "raw": {},
    }
    row.update(fields)
    return row


def test_a_declared_downtime_of_the_bank_covers_the_drop(engine: Engine) -> None:
    _load_drop(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Downtime),
            [_downtime("down_icici", bank="ICIC"), _downtime("down_hdfc", bank="HDFC")],
        )
    alert = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"]).fired[0]
    downtime = alert["evidence"]["downtime"]
    assert downtime["id"] == "down_hdfc"  # not ICICI's
    assert downtime["drop_before_declared"] is True  # the hour began 14:00, the downtime 14:02
    assert (
        "Razorpay declared a downtime covering it: HDFC netbanking, 14:02–14:47 IST (high)"
        in alert["message"]
    )


def test_another_banks_downtime_does_not_cover_the_drop(engine: Engine) -> None:
    _load_drop(engine)
    with engine.begin() as conn:
        conn.execute(insert(Downtime), [_downtime("down_icici", bank="ICIC")])
    alert = alerts.evaluate(engine, at=AFTER_DROP_HOUR, rules=RULES, only=["success_drop"]).fired[0]
    assert alert["evidence"]["downtime"] is None
    assert "No declared Razorpay downtime on record covers it" in alert["message"]


# --- fraud signals ---------------------------------------------------------------------------------------

FRAUD_AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _card_attempt(pid: str, minutes_before: float, status: str, last4: str, **fields: Any) -> dict[str, Any]:
    at = FRAUD_AT - timedelta(minutes=minutes_before)
    row = {"method": "card", "card_network": "Visa", "card_last4": last4, "amount": 100, "created_at": at}
    return payment(pid, status=status, state_at=at, **{**row, **fields})


def test_a_card_testing_burst_is_one_high_alert_without_the_email_in_it(engine: Engine) -> None:
    # Six cards from one email and phone in nine minutes, five declined: card testing, and (six cards)
    # a velocity outlier for the email and for the phone too — one incident, so one alert.
    burst = [
        _card_attempt(
            f"pay_t{i}",
            60 - i * 1.5,
            "captured" if i == 0 else "failed",
            f"{1000 + i}",
            email="tester@x.io",
            contact="+919800000001",
        )
        for i in range(6)
    ]
    with engine.begin() as conn:
        write(conn, "payments", *burst)
    evaluation = alerts.evaluate(engine, at=FRAUD_AT, rules=RULES, only=["fraud_signal"])
    [alert] = evaluation.fired
    assert alert["key"] == "fraud_signal:" + alerts.fraud_signal_subject("card_testing", "email:tester@x.io")
    assert (alert["rule"], alert["severity"]) == ("fraud_signal", "high")
    assert alert["link"] == "risk?kind=card_testing"
    evidence = alert["evidence"]
    assert (evidence["signal"], evidence["identity"], evidence["attempts"], evidence["failures"]) == (
        "card_testing",
        "email",
        6,
        5,
    )
    assert sorted(evidence["payment_ids"]) == sorted(row["id"] for row in burst)
    shown = " ".join([alert["key"], alert["title"], alert["message"]])
    assert "tester@x.io" not in shown and "9800000001" not in shown

    # A day later the burst has left the risk window: the alert resolves by itself.
    later = alerts.evaluate(engine, at=FRAUD_AT + timedelta(hours=25), rules=RULES, only=["fraud_signal"])
    assert [a["key"] for a in later.resolved] == [alert["key"]]


def test_one_buyer_paying_too_often_is_one_velocity_alert_not_one_per_email_and_phone(engine: Engine) -> None:
    buyer = {"email": "bulk@x.io", "contact": "+919811111111", "method": "upi"}
    busy = [payment(f"pay_v{i}", created_at=FRAUD_AT - timedelta(hours=i + 1), **buyer) for i in range(10)]
    usual = [
        payment(
            f"pay_n{i}",
            email="once@x.io",
            contact="+919822222222",
            created_at=FRAUD_AT - timedelta(hours=i + 1),
        )
        for i in range(9)
    ]
    with engine.begin() as conn:
        write(conn, "payments", *busy, *usual)
    evaluation = alerts.evaluate(engine, at=FRAUD_AT, rules=RULES, only=["fraud_signal"])
    assert [a["key"] for a in evaluation.fired] == [
        "fraud_signal:" + alerts.fraud_signal_subject("velocity", "email:bulk@x.io")
    ]
    assert evaluation.fired[0]["evidence"]["successful"] == 10
    assert evaluation.fired[0]["link"] == "risk?kind=velocity"


def test_the_fraud_signals_that_alert_are_a_setting(engine: Engine) -> None:
    busy = [
        payment(f"pay_v{i}", email="bulk@x.io", created_at=FRAUD_AT - timedelta(hours=i + 1))
        for i in range(10)
    ]
    with engine.begin() as conn:
        write(conn, "payments", *busy)
    only_card_testing = AlertRules(fraud_signal_kinds=("card_testing",))
    assert alerts.evaluate(engine, at=FRAUD_AT, rules=only_card_testing, only=["fraud_signal"]).fired == []
    with pytest.raises(ValueError, match="not a fraud signal: dispute_respond_by"):
        alerts.evaluate(
            engine,
            at=FRAUD_AT,
            rules=AlertRules(fraud_signal_kinds=("dispute_respond_by",)),
            only=["fraud_signal"],
        )
