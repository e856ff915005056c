"""Sandbox → sync → webhook replay → reconcile: every planted anomaly found by its rule and nothing else,
and webhook health finds every planted missing, duplicated, late and badly signed delivery.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from analytics import mismatches, success
from analytics.reconcile import BANK_RULE_IDS, reconcile
from analytics.rules import RULES
from analytics.webhook_health import webhook_health
from tests.support.sandbox import SandboxHandle, free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# Small but with every anomaly kind planted: 9 days keeps room for the 7-day-old plants.
SANDBOX_ARGS = {"seed": 11, "days": 9, "payments_per_day": 150}

# Which id names a planted anomaly (manifest) and a mismatch (our row) of each rule.
SUBJECT_ID = {
    "captured_not_settled": "payment_id",
    "settlement_line_amount_mismatch": "payment_id",
    "settlement_total_mismatch": "settlement_id",
    "order_paid_without_capture": "order_id",
    "order_multiple_captures": "order_id",
    "authorized_not_captured": "payment_id",
    "refund_not_debited": "refund_id",
    "webhook_missing": "payment_id",
    "webhook_status_conflict": "payment_id",
    "fee_rate_anomaly": "payment_id",
}


def _env(database_url: str, sandbox: SandboxHandle) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "RAZORPAY_BASE_URL": sandbox.base_url,
        "RAZORPAY_KEY_ID": sandbox.key_id,
        "RAZORPAY_KEY_SECRET": sandbox.key_secret,
        "RAZORPAY_WEBHOOK_SECRET": sandbox.webhook_secret,
    }


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture
def receiver(database_url: str) -> Iterator[Callable[[SandboxHandle], str]]:
    """Starts `python -m sync.webhooks serve` for a sandbox; returns its webhook URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(sandbox: SandboxHandle) -> str:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sync.webhooks",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=_env(database_url, sandbox),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310 - local http
                    return base + "/webhooks/razorpay"
            except OSError:
                assert process.poll() is None, "webhook receiver exited"
                time.sleep(0.1)
        raise AssertionError("webhook receiver did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def _subject(anomaly_or_row: Mapping[Any, Any], rule: str) -> str:
    return str(anomaly_or_row[SUBJECT_ID[rule]])


@pytest.mark.slow(seconds=60)
@pytest.mark.timeout(1800)
def test_reconciliation_finds_exactly_the_planted_anomalies(
    sandbox_factory: Callable[..., SandboxHandle],
    receiver: Callable[[SandboxHandle], str],
    database_url: str,
    engine: Engine,
) -> None:
    sandbox = sandbox_factory(**SANDBOX_ARGS)
    now = datetime.fromtimestamp(sandbox.state()["now"], UTC)
    env = _env(database_url, sandbox)

    _run(["sync", "run", "--until", now.isoformat(), "--safety-lag", "0s"], env)
    url = receiver(sandbox)
    # One sender thread: deliveries arrive in history order (apart from the planted faults), which the
    # webhook-vs-API conflict check relies on when a replay packs hours of history into a second.
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
            str(SANDBOX_ARGS["days"] + 1),
            "--concurrency",
            "1",
        ],
        env,
    )

    result = reconcile(engine, now=now)
    manifest = sandbox.manifest()
    planted = {(a["kind"], _subject(a["ids"], a["kind"])) for a in manifest["anomalies"]}
    # Every rule has something to find; the bank-statement rules are planted in the statements
    # (tests/analytics/test_bank_end_to_end.py), which this test does not import.
    assert {kind for kind, _ in planted} == set(RULES) - BANK_RULE_IDS
    found_rows = mismatches.list_mismatches(engine, status="open", limit=10_000).to_dict(orient="records")
    found = {(row["rule"], _subject(row, row["rule"])) for row in found_rows}
    assert found - planted == set(), "flagged but not planted (precision < 1)"
    assert planted - found == set(), "planted but not found (recall < 1)"
    assert sum(result.found.values()) == len(found_rows)

    # Idempotent: running again changes nothing.
    again = reconcile(engine, now=now)
    assert (again.new, again.auto_resolved, again.still_open) == (0, 0, len(found_rows))

    # Webhook health finds each planted delivery fault.
    health = webhook_health(engine, now=now, late_minutes=5)
    faults: dict[str, set[str]] = {}
    for fault in manifest["webhook_faults"]:
        faults.setdefault(fault["kind"], set()).add(fault["event_id"])
    missing_payments = {f["ids"]["payment_id"] for f in manifest["webhook_faults"] if f["kind"] == "missing"}
    assert set(health.missing["payment_id"]) == missing_payments
    assert set(health.duplicates["event_id"]) == faults.get("duplicate", set())
    assert faults.get("late", set()) <= set(health.late["event_id"])
    # Anything else that shows as late is the older half of a planted out-of-order pair.
    assert set(health.late["event_id"]) <= faults.get("late", set()) | faults.get("out_of_order", set())
    rejected = Counter(health.rejections.groupby("reason")["rejections"].sum().to_dict())
    assert rejected == Counter({"bad_signature": len(faults.get("bad_signature", set()))})
    assert set(health.conflicts["payment_id"]) == {
        a["ids"]["payment_id"] for a in manifest["anomalies"] if a["kind"] == "webhook_status_conflict"
    }

    # The rollups the sync and the receiver kept current agree with the API's truth.
    truth = sandbox.truth("payments")
    # The receiver refreshes rollups at most once a second; wait for its last refresh.
    successes = sum(p["status"] in ("authorized", "captured", "refunded") for p in truth)
    for _ in range(120):
        kpis = success.kpis(engine)
        if (kpis.attempts + kpis.created, kpis.successes) == (len(truth), successes):
            break
        time.sleep(0.5)
    assert (kpis.attempts + kpis.created, kpis.successes) == (len(truth), successes)
    by_method = success.success_rates(engine, "method")
    expected: Counter[str] = Counter()
    for payment in truth:
        expected[payment["method"] or "unknown"] += payment["status"] != "created"
    assert dict(zip(by_method["method"], by_method["attempts"], strict=True)) == dict(expected)
