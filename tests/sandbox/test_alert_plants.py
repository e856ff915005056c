"""The conditions planted for the alert rules (sandbox/alert_plants.py, `--alert-plants`): each one is in
the data with the counts its rule needs, as the manifest says, for more than one seed; and the plain
sandbox plants none of them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from data.settings import AlertRules, RiskRules
from sandbox import catalogue as cat
from sandbox import events as ev
from sandbox.alert_plants import BUSY_ATTEMPTS, PLANTED_CUSTOMER
from sandbox.build import Dataset, SandboxConfig, generate
from sandbox.tables import NEVER
from tests.support.clock import TEST_NOW

ALERTS = AlertRules()
RISK = RiskRules()
DAY = 86_400
HOUR_SECONDS = 3_600
WEEK = 7 * DAY


def _generate(seed: int, alert_plants: bool) -> Dataset:
    config = SandboxConfig(
        seed=seed, days=30, payments_per_day=150, now=int(TEST_NOW.timestamp()), alert_plants=alert_plants
    )
    return generate(config)


@pytest.fixture(scope="module", params=[11, 23])
def planted(request: pytest.FixtureRequest) -> Dataset:
    return _generate(int(request.param), alert_plants=True)


def _plants(ds: Dataset, rule: str) -> list[dict[str, Any]]:
    return [plant for plant in ds.manifest()["alert_plants"] if plant["rule"] == rule]


def _slice_counts(
    ds: Dataset, bank: str, start: int, end: int, *, planted_only: bool = False
) -> tuple[int, int]:
    p = ds.payments
    in_slice = (
        (p.created >= start)
        & (p.created < end)
        & (p.method == cat.M_NETBANKING)
        & (p.bank == cat.BANKS.index(bank))
    )
    if planted_only:
        in_slice &= p.customer >= PLANTED_CUSTOMER
    return int(in_slice.sum()), int((in_slice & (p.authorized != NEVER) & (p.authorized <= ds.now)).sum())


def test_the_plain_sandbox_plants_nothing_for_the_alerts() -> None:
    ds = _generate(11, alert_plants=False)
    assert ds.manifest()["alert_plants"] == []
    assert not (ds.payments.customer >= PLANTED_CUSTOMER).any()


def test_each_success_drop_has_the_counts_the_rule_needs_against_a_steady_baseline(planted: Dataset) -> None:
    drops = {plant["what"]: plant for plant in _plants(planted, "success_drop")}
    assert set(drops) == {"bank_drop", "declared_downtime_dip", "undeclared_dip"}
    for plant in drops.values():
        start, end = plant["window"]["start"], plant["window"]["end"]
        bank = plant["slice"]["bank"]
        assert plant["slice"]["method"] == "netbanking"
        assert (plant["attempts"], plant["successes"]) == _slice_counts(planted, bank, start, end)
        assert plant["attempts"] >= ALERTS.min_attempts
        # The same hour of the same weekday over the previous weeks: enough attempts, the usual rate.
        baseline = [_slice_counts(planted, bank, start - w * WEEK, end - w * WEEK) for w in range(1, 5)]
        base_attempts = sum(attempts for attempts, _ in baseline)
        base_successes = sum(successes for _, successes in baseline)
        assert base_attempts >= ALERTS.min_baseline_attempts
        assert base_successes / base_attempts == pytest.approx(plant["usual_rate"], abs=0.03)
        drop_points = (plant["usual_rate"] - plant["successes"] / plant["attempts"]) * 100
        assert drop_points >= 30
        assert plant["check_at"] == end + 300
    # Only the declared outage's dip is covered by a downtime, and it is that bank's.
    declared = drops["declared_downtime_dip"]
    [downtime] = [d for d in planted.downtimes if d.id == declared["downtime"]]
    assert downtime.instrument == {"bank": declared["slice"]["bank"]}
    assert downtime.begin <= declared["window"]["start"] and downtime.end >= declared["window"]["end"]
    assert drops["bank_drop"]["downtime"] is None and drops["undeclared_dip"]["downtime"] is None


def test_each_bank_is_busy_at_its_hour_every_day_at_exactly_its_usual_rate(planted: Dataset) -> None:
    for plant in _plants(planted, "success_drop"):
        start = plant["window"]["start"]
        days = [
            start + offset * DAY
            for offset in range(-31, 31)
            if offset and planted.start + DAY <= start + offset * DAY <= planted.now - 2 * HOUR_SECONDS
        ]
        assert len(days) >= 26
        for begin in days:
            attempts, successes = _slice_counts(
                planted, plant["slice"]["bank"], begin, begin + HOUR_SECONDS, planted_only=True
            )
            assert (attempts, successes) == (BUSY_ATTEMPTS, round(BUSY_ATTEMPTS * plant["usual_rate"]))


def test_the_silent_hour_withholds_every_captured_event_while_payments_succeed(planted: Dataset) -> None:
    [plant] = _plants(planted, "webhook_silence")
    start, end = plant["window"]["start"], plant["window"]["end"]
    deliveries = ev.planned_deliveries(planted, start - 3600, 10_000_000)
    captured = [d for d in deliveries if d["event"] == "payment.captured" and start <= d["occurred_at"] < end]
    assert len(captured) == plant["events_withheld"] > 0
    assert {d["fault"] for d in captured} == {"missing"}
    # The hours around it deliver as usual, and the API shows the activity that should have produced them.
    around = [
        d for d in deliveries if d["event"] == "payment.captured" and not start <= d["occurred_at"] < end
    ]
    assert around and all(d["fault"] != "missing" for d in around if d["occurred_at"] < start)
    assert plant["api_successes"] >= ALERTS.silence_min_activity
    # Each withheld event is a missing webhook reconciliation will report, and the manifest lists it.
    withheld = {d["event_id"] for d in captured}
    missing = {
        a["detail"]["event_id"] for a in planted.anomalies if a["detail"].get("plant") == "webhook_silence"
    }
    assert missing == withheld


def _payments_of(ds: Dataset, plant: dict[str, Any]) -> list[int]:
    ids = {pid.removeprefix("pay_").encode() for pid in plant["payment_ids"]}
    return [i for i in range(len(ds.payments)) if bytes(ds.payments.id[i]) in ids]


def test_card_testing_and_velocity_cross_the_risk_thresholds(planted: Dataset) -> None:
    plants = {plant["signal"]: plant for plant in _plants(planted, "fraud_signal")}
    p = planted.payments
    burst = _payments_of(planted, plants["card_testing"])
    assert len(burst) == plants["card_testing"]["attempts"] >= RISK.card_testing_min_attempts
    assert all(p.method[i] == cat.M_CARD and p.amount[i] <= RISK.card_testing_max_amount for i in burst)
    assert (p.created[burst].max() - p.created[burst].min()) <= RISK.card_testing_burst_minutes * 60
    failed = sum(int(p.failure[i] >= 0) for i in burst)
    assert failed == plants["card_testing"]["failures"]
    assert failed / len(burst) >= RISK.card_testing_min_failure_share
    assert len({int(p.customer[i]) for i in burst}) == 1
    assert len({(int(p.network[i]), int(p.last4[i])) for i in burst}) > 1  # many cards tried

    paid = _payments_of(planted, plants["velocity"])
    assert len({int(p.customer[i]) for i in paid}) == 1
    assert all(p.captured[i] != NEVER for i in paid)
    assert len(paid) == plants["velocity"]["successful"] >= RISK.velocity_max_payments
    assert p.created[paid].max() - p.created[paid].min() < RISK.window_hours * 3600


def test_a_customer_pays_with_at_most_two_cards_of_their_own(planted: Dataset) -> None:
    # (The velocity signal flags three cards in a day: ordinary customers must not look like that.)
    p = planted.payments
    cards: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for i in np.flatnonzero((p.network >= 0) & (p.customer < PLANTED_CUSTOMER)).tolist():
        cards[int(p.customer[i])].add((int(p.network[i]), int(p.last4[i])))
    assert cards and max(len(held) for held in cards.values()) <= 2
