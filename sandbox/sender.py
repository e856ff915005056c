"""The webhook sender: replays the sandbox's planned deliveries to a receiver as signed Razorpay events.

The envelope's `created_at` is stamped at send time (send time − latency) and the exact body bytes
are signed with HMAC-SHA256; planted faults decide how each event is (mis)delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

WRONG_SECRET = "not_the_webhook_secret"


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


class Sender:
    def __init__(
        self, url: str, secret: str, *, rate: float = 0.0, concurrency: int = 4, timeout: float = 10.0
    ):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.limiter = RateLimiter(rate)
        self.summary = SendSummary()
        self.local = threading.local()
        self.stamped: dict[str, int] = {}

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = requests.Session()
            self.local.session = session
        return session

    def send_all(self, deliveries: list[dict[str, Any]]) -> SendSummary:
        self.summary.events = len(deliveries)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for _ in pool.map(self._send_unit, units_of(deliveries)):
                pass
        return self.summary

    def _send_unit(self, unit: Iterable[dict[str, Any]]) -> None:
        for delivery in unit:
            self._deliver(delivery)

    def _deliver(self, delivery: dict[str, Any]) -> None:
        fault = delivery.get("fault")
        if fault:
            with self.summary.lock:
                self.summary.by_fault[fault] += 1
        if fault == "missing":
            return
        send_time = time.time()
        created_at = int(send_time - delivery["latency_ms"] / 1000)
        pair = delivery.get("pair")
        if pair and pair in self.stamped:
            # The older half of an out-of-order pair is sent later but happened earlier.
            created_at = min(created_at, self.stamped[pair] - 1 - int(delivery["latency_ms"]) % 3)
        self.stamped[delivery["event_id"]] = created_at
        envelope = dict(delivery["body"])
        envelope["created_at"] = created_at
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
