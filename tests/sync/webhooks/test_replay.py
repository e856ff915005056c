"""End to end: the sandbox's sender replays its whole history, planted faults included, into a real
`python -m sync.webhooks serve`; the database must then hold exactly what was validly sent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from analytics.webhook_health import webhook_health
from data.models import Order, Payment, Refund, Settlement, WebhookEvent, WebhookRejection
from tests.support.sandbox import SandboxHandle, free_port

ROOT = Path(__file__).resolve().parents[3]
DAYS = 3
MODELS: dict[str, Any] = {"payments": Payment, "orders": Order, "refunds": Refund, "settlements": Settlement}
COMPARED = {  # the fields a webhook snapshot carries that must end up as the API shows them
    "payments": ("status", "amount_refunded", "captured", "fee", "tax"),
    "orders": ("status", "amount_paid", "amount_due", "attempts"),
    "refunds": ("status", "amount"),
    "settlements": ("status", "amount", "utr"),
}


@pytest.fixture
def receiver_url(
    database_url: str, sandbox_factory: Any, tmp_path: Path
) -> Iterator[tuple[str, SandboxHandle]]:
    sandbox = sandbox_factory(seed=11, days=DAYS, payments_per_day=150)
    port = free_port()
    env = {**os.environ, "RAZORPAY_WEBHOOK_SECRET": sandbox.webhook_secret}
    log = (tmp_path / "receiver.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sync.webhooks", "serve", "--port", str(port), "--database-url", database_url],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        _wait_healthy(port, process)
        yield f"http://127.0.0.1:{port}/webhooks/razorpay", sandbox
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "receiver exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("receiver did not become healthy")


@pytest.mark.slow(seconds=40)
def test_replaying_the_whole_history_with_its_faults(
    receiver_url: tuple[str, SandboxHandle], engine: Engine
) -> None:
    url, sandbox = receiver_url
    deliveries = sandbox.webhook_deliveries(since=0)
    sent = subprocess.run(
        [
            sys.executable,
            "-m",
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
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    summary = orjson.loads(sent.stdout.strip().splitlines()[-1])

    by_fault: dict[str | None, list[dict[str, Any]]] = {}
    for delivery in deliveries:
        by_fault.setdefault(delivery["fault"], []).append(delivery)
    assert {"duplicate", "bad_signature", "missing", "late", "out_of_order"} <= set(by_fault), (
        "faults planted"
    )
    valid = {d["event_id"]: d for d in deliveries if d["fault"] not in ("missing", "bad_signature")}
    unsent = {d["event_id"] for d in deliveries if d["fault"] in ("missing", "bad_signature")}

    with engine.connect() as conn:
        stored = {row.event_id: row for row in conn.execute(select(WebhookEvent))}
        rejected = list(conn.execute(select(WebhookRejection)))
        rows = {
            entity: {row.id: row for row in conn.execute(select(model))} for entity, model in MODELS.items()
        }

    # Every validly signed event stored exactly once, repeats only counted.
    assert set(stored) == set(valid)
    for event_id, delivery in valid.items():
        assert stored[event_id].delivery_count == (
            delivery["repeat"] if delivery["fault"] == "duplicate" else 1
        )
        assert stored[event_id].event_type == delivery["event"]
    apply_errors = [(e.event_type, e.apply_error) for e in stored.values() if not e.applied]
    # Every bad signature rejected and recorded (with its event id), none stored.
    bad = {d["event_id"] for d in by_fault["bad_signature"]}
    # Counted per source and minute: every one counted, each row's sample one of them.
    assert {r.event_id for r in rejected if r.reason == "bad_signature"} <= bad
    assert sum(r.delivery_count for r in rejected if r.reason == "bad_signature") == len(bad)
    assert sum(r.delivery_count for r in rejected) == len(bad)
    assert summary["non_2xx"] == len(bad)

    # Final entity states equal the API's, except for entities an unsent event would have changed.
    touched_by_unsent: set[str] = set()
    for delivery in deliveries:
        if delivery["event_id"] in unsent:
            for wrapper in delivery["body"]["payload"].values():
                touched_by_unsent.add(wrapper["entity"]["id"])
    compared = 0
    mismatches: list[tuple[str, str, str, Any, Any]] = []
    for entity, fields in COMPARED.items():
        for truth in sandbox.truth(entity):
            row = rows[entity].get(truth["id"])
            if row is None or truth["id"] in touched_by_unsent:
                continue
            compared += 1
            for name in fields:
                expected = truth.get(name)
                if name == "captured":
                    expected = bool(expected)
                if getattr(row, name) != expected:
                    mismatches.append((entity, truth["id"], name, getattr(row, name), expected))
    assert compared > 500
    assert apply_errors == []
    assert mismatches == []

    # Each event carries its history's times: created when it happened, lag as planted (the older half
    # of an out-of-order pair waits for its partner; an event not yet due at the replay is sent at once
    # with its times moved back together, its lag kept).
    for event_id, delivery in valid.items():
        event = stored[event_id]
        assert event.sent_at is not None and event.sent_at <= event.received_at
        if delivery["pair"]:
            continue
        assert delivery["latency_ms"] <= event.lag_ms < delivery["latency_ms"] + 1000
        if event.lag_ms == delivery["latency_ms"]:
            assert event.created_at == datetime.fromtimestamp(delivery["occurred_at"], UTC)
    # So the lag chart has a line per IST day of the history, not one point on the replay's day.
    health = webhook_health(engine, now=max(e.received_at for e in stored.values()))
    captured_days = set(health.by_type_day[health.by_type_day["event_type"] == "payment.captured"]["day"])
    assert len(captured_days) >= DAYS
