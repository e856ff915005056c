"""Alerts over 30 sandbox days, through the real path: sandbox HTTP → `python -m sync run` (one entity's
sync stopped three hours early) → the webhook receiver (the sender replays the history, its planted badly
signed deliveries included) → reconciliation → `alerts evaluate` at a series of moments.

Ground truth: what the sandbox planted and its manifest records (captures left unsettled past T+N, the
reconciliation anomalies, the badly signed deliveries) plus the sync this test stops. As of the end of
the history every one of those conditions alerts, and nothing else does; evaluated hour by hour over the
29 days before (every third hour, in time order), nothing alerts at all: no false alerts on clean days.

What this does not cover yet (docs/alerts.md, *Ground truth*): at this volume (150 payments a day) no
slice reaches the success-drop rule's minimum counts, so the planted downtime dips and a planted bank
drop are not part of it, nor are card testing, velocity and a webhook silence, which the sandbox does not
plant yet.
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
    sandbox = sandbox_factory(seed=seed, days=DAYS, payments_per_day=150)
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
    first = now - timedelta(days=DAYS - 1)
    moments = []
    at = first
    while at < now - timedelta(hours=1):
        moments.append(at)
        at += timedelta(hours=3)
    opened_before_end: list[str] = []
    for at in moments:
        evaluation = alerts.evaluate(engine, at=at, rules=RULES)
        opened_before_end += [f"{at.isoformat()} {alert['key']}" for alert in evaluation.fired]
    assert opened_before_end == [], "alerts on clean days (false alerts)"

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
