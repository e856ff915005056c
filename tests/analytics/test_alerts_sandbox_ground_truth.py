"""Alerts over 30 sandbox days, through the real path: sandbox HTTP → `python -m sync run` (one entity's
sync stopped three hours early) → the webhook receiver (the sender replays the history, its planted badly
signed deliveries and withheld events included) → reconciliation → `alerts evaluate` at a series of moments.

Ground truth: what the sandbox planted and its manifest records, with `--alert-plants` on (sandbox/
alert_plants.py): busy netbanking hours carrying a real drop for one bank, a declared outage's dip and an
undeclared dip; a webhook silence; a card-testing burst; a velocity outlier. And, as of the end of the
history, the captures left unsettled past T+N, the reconciliation anomalies, the badly signed deliveries
and the sync this test stops.

Over the 29 days before the end, evaluated every third hour and just after each plant's window (in time
order), every planted condition opens its alert while it holds, with the right slice, window and counts
(recall 1), and nothing else opens an alert at all: no false alerts on clean days. At the end exactly the
end-of-history conditions alert. SQLite and PostgreSQL each run their own seed (a second seed holds).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, func, select

from analytics import alerts
from analytics.db import as_utc
from analytics.reconcile import reconcile
from data.models import Alert, WebhookEvent, WebhookRejection
from data.settings import AlertRules
from tests.analytics.test_end_to_end import PROJECT_ROOT, _env, _run
from tests.support.sandbox import SandboxHandle, free_port

DAYS = 30
STOPPED_ENTITY = "disputes"  # its sync stops three hours before the end of the history
ENTITIES = ("payments", "orders", "refunds", "settlements", "settlement_lines", "disputes", "downtimes")
RULES = AlertRules()
START_TIMEOUT_SECONDS = 180.0
SEED_BY_BACKEND = {"sqlite": 11, "postgresql": 23}


@pytest.fixture
def receiver(database_url: str) -> Iterator[Callable[[SandboxHandle], str]]:
    """`python -m sync.webhooks serve` for a sandbox (as tests/analytics/test_end_to_end.py's, with a
    longer start-up allowance: on the shared 2-core machine it can take over 30 s to import)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(sandbox: SandboxHandle) -> str:
        port = free_port()
        command = [sys.executable, "-m", "sync.webhooks", "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=_env(database_url, sandbox),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310 - local http
                    return base + "/webhooks/razorpay"
            except OSError:
                assert process.poll() is None, "webhook receiver exited"
                time.sleep(0.2)
        raise AssertionError("webhook receiver did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def _evaluate_cli(env: dict[str, str], at: datetime) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "alerts",
            "evaluate",
            "--at",
            at.isoformat(),
            "--json",
            "--no-notify",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


# What sandbox/alert_plants.py plants (manifest `alert_plants`), each for one alert.
PLANTED_FOR_ALERTS = {
    "bank_drop",
    "declared_downtime_dip",
    "undeclared_dip",
    "webhook_silence",
    "card_testing",
    "velocity",
}


def _alert_key(plant: dict[str, Any]) -> str:
    """The key of the alert a planted condition must open."""
    if plant["rule"] == "success_drop":
        return "success_drop:" + "|".join(f"{name}={value}" for name, value in plant["slice"].items())
    if plant["rule"] == "webhook_silence":
        return f"webhook_silence:{plant['event_type']}"
    # A fraud signal is raised under the first identity the risk rules name: the email.
    return "fraud_signal:" + alerts.fraud_signal_subject(
        plant["signal"], "email:" + plant["identity"]["email"]
    )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _assert_names_the_plant(alert: dict[str, Any], plant: dict[str, Any]) -> None:
    """The alert's evidence is the planted condition's: slice, window and counts, downtime or not."""
    evidence = alert["evidence"]
    window = {"start": _iso(plant["window"]["start"]), "end": _iso(plant["window"]["end"])}
    if plant["rule"] == "success_drop":
        assert evidence["slice"] == plant["slice"]
        assert evidence["window"] == window
        assert (evidence["current"]["attempts"], evidence["current"]["successes"]) == (
            plant["attempts"],
            plant["successes"],
        )
        assert evidence["baseline"]["attempts"] >= RULES.min_baseline_attempts
        assert evidence["baseline"]["rate"] == pytest.approx(plant["usual_rate"], abs=0.05)
        if plant["downtime"] is not None:
            assert evidence["downtime"]["id"] == plant["downtime"]
            assert "Razorpay declared a downtime covering it" in alert["message"]
        else:
            assert evidence["downtime"] is None
            assert "No declared Razorpay downtime on record covers it" in alert["message"]
    elif plant["rule"] == "webhook_silence":
        assert evidence["event_type"] == plant["event_type"]
        assert evidence["window"] == window
        assert evidence["api_activity"] == plant["api_successes"] >= RULES.silence_min_activity
        assert plant["events_withheld"] > 0
    else:
        assert evidence["signal"] == plant["signal"]
        assert evidence["identity"] == "email"
        assert sorted(evidence["payment_ids"]) == sorted(plant["payment_ids"])
        if plant["signal"] == "card_testing":
            assert (evidence["attempts"], evidence["failures"]) == (plant["attempts"], plant["failures"])
        else:
            assert evidence["successful"] == plant["successful"]
        assert alert["link"] == f"risk?kind={plant['signal']}"


def _expected(manifest: dict[str, Any]) -> set[str]:
    """The alert keys the planted conditions must open as of the end of the history."""
    expected = {"sync_stale:sync"}
    kinds = [a["kind"] for a in manifest["anomalies"]]
    if "captured_not_settled" in kinds:
        expected.add("settlement_overdue:INR")  # the sandbox plants unsettled captures in INR only
    others = [kind for kind in kinds if kind != "captured_not_settled"]
    if len(others) >= RULES.new_mismatch_min_count:
        expected.add("new_mismatches:reconciliation")
    bad_signatures = [f for f in manifest["webhook_faults"] if f["kind"] == "bad_signature"]
    if len(bad_signatures) >= RULES.signature_rejections_min:
        expected.add("webhook_signature_rejections:receiver")
    return expected


@pytest.mark.slow(seconds=480)
@pytest.mark.timeout(2400)
def test_planted_conditions_alert_and_clean_days_do_not(
    sandbox_factory: Callable[..., SandboxHandle],
    receiver: Callable[[SandboxHandle], str],
    database_url: str,
    engine: Engine,
) -> None:
    # Two sandboxes of their own seeds, one per backend: each backend and a second seed hold, in two
    # runs rather than four (each is minutes of sandbox, sync, replay and 240 evaluations).
    seed = SEED_BY_BACKEND[engine.dialect.name]
    sandbox = sandbox_factory(seed=seed, days=DAYS, payments_per_day=150, alert_plants=True)
    now = datetime.fromtimestamp(sandbox.state()["now"], UTC)
    env = _env(database_url, sandbox)

    # Everything up to three hours before the end; then every entity but one up to the end.
    _run(["sync", "run", "--until", (now - timedelta(hours=3)).isoformat(), "--safety-lag", "0s"], env)
    fresh = ",".join(entity for entity in ENTITIES if entity != STOPPED_ENTITY)
    _run(["sync", "run", "--entities", fresh, "--until", now.isoformat(), "--safety-lag", "0s"], env)
    url = receiver(sandbox)
    _run(
        [
            "sandbox",
            "webhooks",
            "--to",
            url,
            "--secret",
            sandbox.webhook_secret,
            "--api",
            sandbox.base_url,
            "--since-days",
            str(DAYS + 1),
            "--concurrency",
            "1",
        ],
        env,
    )
    reconcile(engine, now=now)
    manifest = sandbox.manifest()

    # The syncs evaluated as of their own moments; the back-test starts from an empty history.
    with engine.begin() as conn:
        conn.execute(delete(Alert))
    plants = manifest["alert_plants"]
    assert {plant["what"] for plant in plants} == PLANTED_FOR_ALERTS, "the sandbox planted them all"
    first = now - timedelta(days=DAYS - 1)
    checks = {datetime.fromtimestamp(plant["check_at"], UTC): plant for plant in plants}
    moments = set(checks)
    at = first
    while at < now - timedelta(hours=1):
        moments.add(at)
        at += timedelta(hours=3)
    opened: list[tuple[datetime, str]] = []
    open_at_check: dict[str, dict[str, Any]] = {}
    for at in sorted(moments):
        evaluation = alerts.evaluate(engine, at=at, rules=RULES)
        opened += [(at, alert["key"]) for alert in evaluation.fired]
        if at in checks:
            firing = {alert["key"]: alert for alert in alerts.list_alerts(engine, status="firing")}
            plant = checks[at]
            open_at_check[plant["what"]] = firing.get(_alert_key(plant), {})

    # Nothing opens but a planted condition, and only while it holds: no false alerts on clean days.
    false_alerts = [
        f"{moment.isoformat()} {key}"
        for moment, key in opened
        if not any(
            key == _alert_key(plant)
            and plant["holds"]["from"] <= moment.timestamp() < plant["holds"]["until"]
            for plant in plants
        )
    ]
    assert false_alerts == [], "alerts on clean days (false alerts)"
    # Every planted condition is alerting just after its window (recall 1), and says what was planted.
    assert [what for what, alert in open_at_check.items() if not alert] == [], "planted but not alerted"
    for plant in plants:
        _assert_names_the_plant(open_at_check[plant["what"]], plant)

    # The end: just after the replay's last delivery (the receiver stamps deliveries with the test clock,
    # which has moved on from the history's end while the sync and the replay ran).
    with engine.connect() as conn:
        received = conn.execute(
            select(func.max(WebhookEvent.received_at)).union_all(
                select(func.max(WebhookRejection.last_received_at))
            )
        ).scalars()
        end = max(as_utc(moment) for moment in received if moment is not None) + timedelta(minutes=1)
    result = _evaluate_cli(env, end)
    fired = {alert["key"]: alert for alert in result["fired"]}
    expected = _expected(manifest)
    assert set(fired) - expected == set(), "alerted but not planted"
    assert expected - set(fired) == set(), "planted but not alerted (recall < 1)"

    # Each alert names what was planted.
    assert set(fired["sync_stale:sync"]["evidence"]["entities"]) == {STOPPED_ENTITY}
    unsettled = [a for a in manifest["anomalies"] if a["kind"] == "captured_not_settled"]
    if "settlement_overdue:INR" in fired:
        evidence = fired["settlement_overdue:INR"]["evidence"]
        assert evidence["payments"] == len(unsettled)
        assert evidence["amount"] == sum(int(a["detail"]["amount"]) for a in unsettled)
    if "webhook_signature_rejections:receiver" in fired:
        bad = [f for f in manifest["webhook_faults"] if f["kind"] == "bad_signature"]
        assert fired["webhook_signature_rejections:receiver"]["evidence"]["count"] == len(bad)

    # Evaluating again changes nothing (one alert per condition).
    again = _evaluate_cli(env, end + timedelta(minutes=1))
    assert again["fired"] == [] and again["resolved"] == []
