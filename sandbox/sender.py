"""The webhook sender: replays the sandbox's planned deliveries to a receiver as signed Razorpay events.

Each event goes out as Razorpay sent it in the sandbox's history: the envelope's `created_at` is when
it happened, and `payops_replay.sent_at_ms` (sync/webhooks/intake.py, REPLAY_KEY) is when it was sent
then, `latency_ms` later, so the receiver measures the planted lateness, not the replay's. The exact
body bytes are signed with HMAC-SHA256; planted faults decide how each event is (mis)delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

WRONG_SECRET = "not_the_webhook_secret"
# The envelope key a replayed event declares its first-send time in (read by sync/webhooks/intake.py,
# which sandbox/ must not import: the name is the contract).
REPLAY_KEY = "payops_replay"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class SendSummary:
    events: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    errors: int = 0
    by_fault: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "sent": self.sent,
            "2xx": self.ok,
            "non_2xx": self.failed,
            "connection_errors": self.errors,
            "faults": dict(sorted(self.by_fault.items())),
        }


class RateLimiter:
    """At most `rate` sends per second across all threads (rate 0 = unlimited)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def history_times(delivery: dict[str, Any], newer: tuple[int, int] | None, now_ms: int) -> tuple[int, int]:
    """(envelope created_at in s, first-send time in ms) of a delivery in the sandbox's history: it
    happened at `occurred_at` and was sent `latency_ms` later.

    The older half of an out-of-order pair (`newer` = its partner's times as sent) happened first but
    was sent after its partner; its created_at stays strictly earlier, so ordering by created_at is
    the true order. A send time still ahead of `now_ms` (a late event of the history's last minutes)
    has not happened yet: such an event is sent now, both its times moved back together, so that its
    lateness stays as planted and no time is later than its receipt."""
    created_at = int(delivery["occurred_at"])
    latency_ms = int(delivery["latency_ms"])
    sent_at_ms = created_at * 1000 + latency_ms
    if newer is not None:
        newer_created_at, newer_sent_at_ms = newer
        created_at = min(created_at, newer_created_at - 1)
        sent_at_ms = max(sent_at_ms, newer_sent_at_ms + 1 + latency_ms % 1000)
    if sent_at_ms > now_ms:
        created_at -= -(-(sent_at_ms - now_ms) // 1000)  # whole seconds, rounded up
        sent_at_ms = now_ms
    return created_at, sent_at_ms


def units_of(deliveries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group deliveries that must go out in order from one thread: an out-of-order pair is one unit."""
    units: list[list[dict[str, Any]]] = []
    by_event: dict[str, list[dict[str, Any]]] = {}
    for delivery in deliveries:
        pair = delivery.get("pair")
        if pair and pair in by_event:
            by_event[pair].append(delivery)
            continue
        unit = [delivery]
        units.append(unit)
        by_event[delivery["event_id"]] = unit
    return units


def write_progress(path: Path, stage: str, done: int, total: int) -> None:
    """The replay's progress as the dashboard reads it (dashboard/replay.py): stage replaying |
    reconciling | done, events handled (sent, or withheld by a planted fault) of the history's total.
    Written whole and renamed into place, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps({"stage": stage, "events_done": done, "events_total": total}))
    os.replace(partial, path)


class Sender:
    # Seconds between two progress-file writes (the last one is always written).
    PROGRESS_EVERY = 0.5

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        rate: float = 0.0,
        concurrency: int = 4,
        timeout: float = 10.0,
        progress_file: Path | None = None,
    ):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.limiter = RateLimiter(rate)
        self.summary = SendSummary()
        self.local = threading.local()
        self.progress_file = progress_file
        self.handled = 0
        self.progress_written_at = 0.0
        self.stamped: dict[str, tuple[int, int]] = {}  # event id -> (created_at, sent_at_ms) as sent

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = requests.Session()
            self.local.session = session
        return session

    def send_all(self, deliveries: list[dict[str, Any]]) -> SendSummary:
        self.summary.events = len(deliveries)
        self._progress(0)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for _ in pool.map(self._send_unit, units_of(deliveries)):
                pass
        return self.summary

    def _send_unit(self, unit: Iterable[dict[str, Any]]) -> None:
        for delivery in unit:
            self._deliver(delivery)
            self._progress(1)

    def _progress(self, handled: int) -> None:
        if self.progress_file is None:
            return
        with self.summary.lock:
            self.handled += handled
            now = time.monotonic()
            final = self.handled == self.summary.events
            if not final and now - self.progress_written_at < self.PROGRESS_EVERY and handled:
                return
            self.progress_written_at = now
            write_progress(self.progress_file, "replaying", self.handled, self.summary.events)

    def _deliver(self, delivery: dict[str, Any]) -> None:
        fault = delivery.get("fault")
        if fault:
            with self.summary.lock:
                self.summary.by_fault[fault] += 1
        if fault == "missing":
            return
        newer = self.stamped.get(delivery.get("pair") or "")
        created_at, sent_at_ms = history_times(delivery, newer, int(time.time() * 1000))
        self.stamped[delivery["event_id"]] = (created_at, sent_at_ms)
        envelope = dict(delivery["body"])
        envelope["created_at"] = created_at
        envelope[REPLAY_KEY] = {"sent_at_ms": sent_at_ms}
        body = orjson.dumps(envelope)
        secret = WRONG_SECRET if fault == "bad_signature" else self.secret
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(body, secret),
            "X-Razorpay-Event-Id": delivery["event_id"],
        }
        for _ in range(int(delivery.get("repeat") or 1)):
            self.limiter.wait()
            try:
                response = self._session().post(self.url, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException:
                with self.summary.lock:
                    self.summary.sent += 1
                    self.summary.errors += 1
                continue
            with self.summary.lock:
                self.summary.sent += 1
                if 200 <= response.status_code < 300:
                    self.summary.ok += 1
                else:
                    self.summary.failed += 1


def fetch_deliveries(api: str, auth: tuple[str, str], since: int, limit: int) -> list[dict[str, Any]]:
    response = requests.get(
        f"{api.rstrip('/')}/_sandbox/webhook-deliveries",
        params={"since": since, "limit": limit},
        auth=auth,
        timeout=600,
    )
    response.raise_for_status()
    return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]
