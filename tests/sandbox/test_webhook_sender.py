"""`python -m sandbox webhooks` posts signed Razorpay envelopes with exactly the planned delivery faults,
each carrying the times it had in the sandbox's history (when it happened, when it was first sent)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from razorpay import Utility
from razorpay.errors import SignatureVerificationError

from tests.support.sandbox import PROJECT_ROOT, SandboxHandle


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[dict[str, Any]]
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.received.append(
                {
                    "at": time.time(),
                    "body": body,
                    "signature": self.headers["X-Razorpay-Signature"],
                    "event_id": self.headers["X-Razorpay-Event-Id"],
                    "content_type": self.headers["Content-Type"],
                }
            )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("BoundRecorder", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/razorpay", received
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_sender_posts_signed_events_with_the_planned_faults(sandbox: SandboxHandle, receiver: Any) -> None:
    url, received = receiver
    started_ms = int(time.time() * 1000)
    result = subprocess.run(
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
            "2.5",
            "--concurrency",
            "4",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    now = sandbox.state()["now"]
    planned = sandbox.webhook_deliveries(since=int(now - 2.5 * 86_400))
    faults = {d["event_id"]: d for d in planned}
    expected_sends = sum(d["repeat"] for d in planned if d["fault"] != "missing")
    assert summary["sent"] == summary["2xx"] == expected_sends == len(received)
    assert summary["events"] == len(planned)

    by_event: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in received:
        by_event[delivery["event_id"]].append(delivery)
        envelope = orjson.loads(delivery["body"])
        assert delivery["content_type"] == "application/json"
        assert envelope["entity"] == "event" and envelope["account_id"].startswith("acc_")
        assert envelope["event"] == faults[delivery["event_id"]]["event"]
        assert set(envelope["contains"]) <= set(envelope["payload"])
        valid = _verifies(delivery, sandbox)
        assert valid == (faults[delivery["event_id"]]["fault"] != "bad_signature")
        plan = faults[delivery["event_id"]]
        sent_at_ms = envelope["payops_replay"]["sent_at_ms"]
        assert sent_at_ms <= delivery["at"] * 1000 + 1  # never sent after it was received
        lag_ms = sent_at_ms - envelope["created_at"] * 1000
        if plan["fault"] == "late":
            assert lag_ms >= 15 * 60_000
        elif not plan["pair"]:
            # (The older half of an out-of-order pair waits for its partner, however much later that
            # happened: checked below.)
            assert lag_ms < 15 * 60_000
        history_sent_ms = plan["occurred_at"] * 1000 + plan["latency_ms"]
        if not (plan["fault"] == "out_of_order" and plan["pair"]) and history_sent_ms <= started_ms:
            # As it was sent in the sandbox's history, not stamped with the replay's own time.
            assert (envelope["created_at"], sent_at_ms) == (plan["occurred_at"], history_sent_ms)
        elif not plan["pair"]:
            # Not yet due when the replay ran: sent now, both times moved back, lateness kept.
            assert plan["latency_ms"] <= lag_ms < plan["latency_ms"] + 1000
    for event_id, delivery in faults.items():
        copies = by_event.get(event_id, [])
        if delivery["fault"] == "missing":
            assert not copies
        else:
            assert len(copies) == delivery["repeat"]
            assert len({c["body"] for c in copies}) == 1
        if delivery["fault"] == "out_of_order" and delivery["pair"]:
            newer = by_event[delivery["pair"]][0]
            older = copies[0]
            assert newer["at"] <= older["at"]
            older_envelope, newer_envelope = orjson.loads(older["body"]), orjson.loads(newer["body"])
            assert older_envelope["created_at"] < newer_envelope["created_at"]
            assert (
                older_envelope["payops_replay"]["sent_at_ms"] > newer_envelope["payops_replay"]["sent_at_ms"]
            )
    assert set(summary["faults"]) == {"missing", "duplicate", "late", "out_of_order", "bad_signature"}


def _verifies(delivery: dict[str, Any], sandbox: SandboxHandle) -> bool:
    try:
        Utility(None).verify_webhook_signature(
            delivery["body"].decode(), delivery["signature"], sandbox.webhook_secret
        )
    except SignatureVerificationError:
        return False
    return True
