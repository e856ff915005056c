"""Two receiver replicas on one database, a duplicate of every fifth event sent to the other replica at
the same moment, one replica SIGKILLed and restarted mid-stream: every 2xx'd event is stored exactly
once, none is lost, nothing is answered 5xx, and the rollups equal a rebuild from raw payments."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from sqlalchemy import Engine, select

from data import rollups
from data.models import (
    Payment,
    PaymentFailureRollupDaily,
    PaymentFailureRollupHourly,
    PaymentRollupDaily,
    PaymentRollupHourly,
    WebhookEvent,
    WebhookLagRollupDaily,
)
from sync.webhooks.intake import sign
from tests.support.receivers import ReceiverProcess
from tests.sync.webhooks.events import SECRET, T0, envelope, payment

pytestmark = pytest.mark.slow(seconds=60)

EVENTS = 360
PAYMENTS = 60  # six events per payment: replicas race on the same rows
DUPLICATE_EVERY = 5  # 20 %
KILL_AT = EVENTS // 3
_LIFECYCLE = ["payment.authorized", "payment.captured", "payment.captured", "payment.failed"]


def _events() -> list[tuple[str, bytes]]:
    """(event id, signed body) in a shuffled order: unordered, like Razorpay's deliveries."""
    rng = random.Random(11)
    bodies = []
    for n in range(EVENTS):
        pid = f"pay_R{n % PAYMENTS:03d}"
        event_type = _LIFECYCLE[rng.randrange(len(_LIFECYCLE))]
        status = event_type.removeprefix("payment.")
        # Payments spread over three hours so refreshes of different buckets interleave.
        snapshot = payment(pid=pid, status=status, created_at=T0 - 3600 * (n % 3) - n, amount=1000 + n)
        bodies.append((f"evt_R{n:04d}", orjson.dumps(envelope(event_type, T0 + n, payment=snapshot))))
    rng.shuffle(bodies)
    return bodies


class Deliverer:
    """Razorpay's side: deliver until a 2xx, retrying (on the next replica, as a load balancer would)
    when a replica is down or times out. Any 5xx answer is counted: the test allows none."""

    def __init__(self, replicas: list[ReceiverProcess]) -> None:
        self.replicas = replicas
        self.answers: Counter[int] = Counter()
        self.acknowledged: set[str] = set()
        self._lock = threading.Lock()

    def deliver(
        self, event_id: str, body: bytes, replica: int, start: threading.Barrier | None = None
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(body, SECRET),
            "X-Razorpay-Event-Id": event_id,
        }
        if start is not None:
            start.wait(timeout=30)
        for attempt in range(200):
            target = self.replicas[(replica + attempt) % len(self.replicas)]
            try:
                response = requests.post(
                    target.url + "/webhooks/razorpay", data=body, headers=headers, timeout=10
                )
            except requests.RequestException:
                time.sleep(0.05)
                continue
            with self._lock:
                self.answers[response.status_code] += 1
                if 200 <= response.status_code < 300:
                    self.acknowledged.add(event_id)
            if 200 <= response.status_code < 300:
                return
            time.sleep(0.05)
        raise AssertionError(f"{event_id} was never acknowledged")


def _rollup_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        PaymentRollupHourly,
        PaymentFailureRollupHourly,
        PaymentRollupDaily,
        PaymentFailureRollupDaily,
        WebhookLagRollupDaily,  # counted up by both replicas at once, repeats included
    ]
    with engine.connect() as conn:
        return {
            model.__tablename__: sorted(tuple(row) for row in conn.execute(select(model.__table__)).all())
            for model in tables
        }


def test_two_replicas_with_concurrent_duplicates_and_a_kill(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # Replica 0 is `serve --workers 2` (two processes on one port), replica 1 a single process.
    replicas = [
        ReceiverProcess(database_url, SECRET, tmp_path / f"receiver-{i}.log", extra=extra)
        for i, extra in enumerate([["--workers", "2"], []])
    ]
    deliverer = Deliverer(replicas)
    try:
        for replica in replicas:
            replica.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures: list[Future[None]] = []
            for n, (event_id, body) in enumerate(_events()):
                if n == KILL_AT:
                    for future in futures:
                        future.result()
                    futures.clear()
                    # Deliveries keep flowing while replica 1 is down and while it restarts.
                    killer = pool.submit(_kill_and_restart, replicas[1])
                    futures.append(killer)
                if n % DUPLICATE_EVERY == 0:
                    barrier = threading.Barrier(2)
                    futures.append(pool.submit(deliverer.deliver, event_id, body, n % 2, barrier))
                    futures.append(pool.submit(deliverer.deliver, event_id, body, (n + 1) % 2, barrier))
                else:
                    futures.append(pool.submit(deliverer.deliver, event_id, body, n % 2))
            for future in futures:
                future.result()
    finally:
        for replica in replicas:
            replica.stop()

    logs = "".join((tmp_path / f"receiver-{i}.log").read_text() for i in range(2))
    assert not [code for code in deliverer.answers if code >= 500], (deliverer.answers, logs[-3000:])
    assert len(deliverer.acknowledged) == EVENTS
    with engine.connect() as conn:
        stored = conn.execute(select(WebhookEvent.event_id, WebhookEvent.delivery_count)).all()
        statuses = dict(conn.execute(select(Payment.id, Payment.status)).all())
    stored_ids = [event_id for event_id, _ in stored]
    assert sorted(stored_ids) == sorted(deliverer.acknowledged)  # exactly once each, none lost
    # Every 2xx'd delivery was counted (a delivery cut off by the kill may add one more).
    assert sum(count for _, count in stored) >= sum(
        deliverer.answers[c] for c in deliverer.answers if c < 300
    )
    assert len(statuses) == PAYMENTS

    before = _rollup_rows(engine)
    assert before["payment_rollup_hourly"]
    with engine.begin() as conn:
        rollups.rebuild_all(conn)
    assert _rollup_rows(engine) == before


def _kill_and_restart(replica: ReceiverProcess) -> None:
    time.sleep(0.3)  # inside the stream, with requests in flight
    replica.kill()
    time.sleep(0.5)
    replica.start()
