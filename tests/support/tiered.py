"""Runs of the tiered sync against the sandbox's moving time, shared by tests/sync/test_tiers.py (a few
simulated hours) and bench/bench_sync_tiers.py (two simulated days).

Between runs the sandbox's clock moves on (captures, refunds, late authorisations, new records) and its
webhooks reach the receiver's store as Razorpay would send them: signed, each after its own latency,
with the planted faults (a missing or badly signed event never lands, a duplicate lands twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine

from data.settings import SANDBOX_WEBHOOK_SECRET
from sync.pull import SyncResult
from sync.tiers import LookbackTier
from sync.webhooks.intake import Delivery, check_delivery, sign
from sync.webhooks.store import write_items
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import sync_once


@dataclass
class TieredRuns:
    runs: list[SyncResult] = field(default_factory=list)
    webhooks_stored: int = 0

    def list_requests(self, result: SyncResult) -> int:
        return sum(c.requests - c.by_id for c in result.counts.values())

    @property
    def requests(self) -> int:
        return sum(c.requests for run in self.runs for c in run.counts.values())

    @property
    def by_id(self) -> int:
        return sum(c.by_id for run in self.runs for c in run.counts.values())


class WebhookFeed:
    """The sandbox's planned deliveries, handed to the receiver's store once their time has come."""

    def __init__(self, sandbox: SandboxHandle, engine: Engine) -> None:
        self.sandbox = sandbox
        self.engine = engine
        self.listed_until = int(sandbox.state()["now"])
        self.pending: list[tuple[float, dict[str, Any]]] = []

    def deliver_until(self, now: int) -> int:
        for delivery in self.sandbox.webhook_deliveries(since=self.listed_until + 1):
            if int(delivery["occurred_at"]) > self.listed_until:
                arrives = int(delivery["occurred_at"]) + int(delivery["latency_ms"]) / 1000
                self.pending.append((arrives, delivery))
        self.listed_until = now
        due = [d for at, d in self.pending if at <= now]
        self.pending = [(at, d) for at, d in self.pending if at > now]
        items: list[Delivery] = []
        for delivery in due:
            if delivery["fault"] in ("missing", "bad_signature"):
                continue  # never reaches the store (a bad signature is rejected at the door)
            envelope = dict(delivery["body"])
            envelope["created_at"] = int(delivery["occurred_at"])
            body = orjson.dumps(envelope)
            received = datetime.fromtimestamp(
                int(delivery["occurred_at"]) + int(delivery["latency_ms"]) / 1000, UTC
            )
            for _ in range(int(delivery.get("repeat") or 1)):
                item = check_delivery(
                    body=body,
                    signature=sign(body, SANDBOX_WEBHOOK_SECRET),
                    event_id=str(delivery["event_id"]),
                    source_address="127.0.0.1",
                    secrets=[SANDBOX_WEBHOOK_SECRET],
                    received_at=received,
                )
                assert isinstance(item, Delivery), item
                items.append(item)
        if items:
            with self.engine.begin() as conn:
                write_items(conn, items)
        return len(items)


def run_tiered(
    engine: Engine,
    sandbox: SandboxHandle,
    database_url: str,
    *,
    tiers: tuple[LookbackTier, ...],
    every: timedelta,
    runs: int,
) -> TieredRuns:
    """A first (full) run now, then `runs` runs each `every` of sandbox time later, webhooks landing
    in between. The first run is not among the ones returned: today's sync makes it too."""
    feed = WebhookFeed(sandbox, engine)
    sync_once(engine, sandbox, database_url, lookback_tiers=tiers)
    outcome = TieredRuns()
    minutes = int(every.total_seconds() // 60)
    for _ in range(runs):
        now = int(sandbox.advance(minutes)["now"])
        outcome.webhooks_stored += feed.deliver_until(now)
        outcome.runs.append(sync_once(engine, sandbox, database_url, lookback_tiers=tiers))
    return outcome
