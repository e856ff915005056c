"""Rejected deliveries are counted per reason, source address and UTC minute: a flood of unsigned
requests grows a counter, not the table, while the Prometheus counters still count every delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, column, insert, select, table
from starlette.testclient import TestClient

import sync.webhooks.app as receiver_app
from data.db import make_engine
from data.migrate import upgrade
from data.models import UTCDateTime, WebhookRejection
from data.webhook_events import record_rejections
from sync.webhooks.app import WEBHOOK_PATH, create_app
from sync.webhooks.intake import sign
from tests.sync.webhooks.events import SECRET, T0, envelope, payment

RECEIVED = datetime.fromtimestamp(T0 + 90, UTC).replace(second=12)
FLOOD = 10_000
CONCURRENT = 100  # requests in flight at once, so the writer batches them as it would under load


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookRejection).order_by(WebhookRejection.id)))


async def _post(app: Any, body: bytes, signature: str, client: tuple[str, int]) -> int:
    """One request straight into the ASGI app (no HTTP client), returning its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": WEBHOOK_PATH,
        "raw_path": WEBHOOK_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-razorpay-signature", signature.encode()),
        ],
        "client": client,
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def test_a_flood_from_one_source_in_one_minute_is_one_row_counting_every_delivery(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answers wait for their commit; on a starved machine that can take longer than the 4 s after
    # which a delivery is answered 503, and this test is about counting, not about that bound.
    monkeypatch.setattr(receiver_app, "ANSWER_WITHIN_SECONDS", 120.0)
    # Within one minute: 12 s into it, a microsecond later per request (no wall clock involved).
    ticks = iter(range(FLOOD * 2))
    monkeypatch.setattr(receiver_app, "received_now", lambda: RECEIVED + timedelta(microseconds=next(ticks)))
    body = orjson.dumps(envelope("payment.captured", T0, payment=payment()))
    app = create_app(database_url, [SECRET])
    with TestClient(app) as client:
        statuses = _flood(client, app, body)
        rejected = client.get("/metrics").text
    assert statuses.count(400) == FLOOD
    [row] = rows(engine)
    assert (row.reason, row.source_address, row.delivery_count) == ("bad_signature", "198.51.100.7", FLOOD)
    assert row.minute_start == RECEIVED.replace(second=0)
    assert row.received_at == RECEIVED
    assert row.last_received_at == RECEIVED + timedelta(microseconds=FLOOD - 1)
    assert row.event_type == "payment.captured"
    # The Prometheus counter still counts each delivery.
    line = 'payops_webhook_events_rejected_total{event_type="payment.captured",reason="bad_signature"}'
    assert f"{line} {float(FLOOD)}" in rejected.splitlines()


def _flood(client: TestClient, app: Any, body: bytes) -> list[int]:
    """The flood on the test client's own event loop, where the app (and its writer's futures) live."""

    async def run() -> list[int]:
        statuses: list[int] = []
        for start in range(0, FLOOD, CONCURRENT):
            batch = range(start, min(FLOOD, start + CONCURRENT))
            statuses += await asyncio.gather(
                *(_post(app, body, "0" * 64, ("198.51.100.7", 40_000 + n % 20_000)) for n in batch)
            )
        return statuses

    assert client.portal is not None, "inside the client's `with` block"
    return client.portal.call(run)


def test_rows_split_by_minute_reason_and_source_and_add_up_across_writers(engine: Engine) -> None:
    minute = RECEIVED.replace(second=0)

    def delivery(
        at: datetime, reason: str = "bad_signature", source: str | None = "203.0.113.5"
    ) -> dict[str, Any]:
        return {
            "received_at": at,
            "reason": reason,
            "source_address": source,
            "event_id": f"evt_{at.second}",
            "event_type": "payment.failed",
            "body_sha256": "0" * 64,
            "body_size": 10,
            "detail": None,
        }

    with engine.begin() as conn:
        record_rejections(
            conn,
            [
                delivery(minute + timedelta(seconds=30)),
                delivery(minute + timedelta(seconds=10)),
                delivery(minute + timedelta(seconds=70)),  # the next minute
                delivery(minute + timedelta(seconds=20), reason="missing_signature"),
                delivery(minute + timedelta(seconds=20), source="203.0.113.6"),
                delivery(minute + timedelta(seconds=25), source=None),
            ],
        )
    # Another writer (a second receiver process) adds to the same row, earlier and later than it.
    with engine.begin() as conn:
        record_rejections(
            conn, [delivery(minute + timedelta(seconds=5)), delivery(minute + timedelta(seconds=50))]
        )
    found = {
        (r.minute_start, r.reason, r.source_address): (r.delivery_count, r.received_at, r.last_received_at)
        for r in rows(engine)
    }
    later = minute + timedelta(minutes=1)
    assert found == {
        (minute, "bad_signature", "203.0.113.5"): (
            4,
            minute + timedelta(seconds=5),
            minute + timedelta(seconds=50),
        ),
        (later, "bad_signature", "203.0.113.5"): (
            1,
            later + timedelta(seconds=10),
            later + timedelta(seconds=10),
        ),
        (minute, "missing_signature", "203.0.113.5"): (
            1,
            minute + timedelta(seconds=20),
            minute + timedelta(seconds=20),
        ),
        (minute, "bad_signature", "203.0.113.6"): (
            1,
            minute + timedelta(seconds=20),
            minute + timedelta(seconds=20),
        ),
        (minute, "bad_signature", "unknown"): (
            1,
            minute + timedelta(seconds=25),
            minute + timedelta(seconds=25),
        ),
    }
    # The sample is the first delivery written into the row.
    [first] = [r for r in rows(engine) if r.delivery_count == 4]
    assert first.event_id == "evt_30"


@pytest.mark.parametrize(
    ("claimed", "kept"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'=1"),
        ("\r\npayment.captured", "payment.captured"),
        ("payment.captured", "payment.captured"),
    ],
)
def test_the_claimed_event_type_of_a_rejection_is_neutralised(
    receiver: TestClient, engine: Engine, claimed: str, kept: str
) -> None:
    body = orjson.dumps({"event": claimed, "payload": {}})
    response = receiver.post(
        WEBHOOK_PATH, content=body, headers={"X-Razorpay-Signature": sign(body, "whsec_stranger")}
    )
    assert response.status_code == 400
    [row] = rows(engine)
    assert row.event_type == kept


def test_upgrade_folds_per_delivery_rows_into_minute_rows(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine, "0010")
    minute = RECEIVED.replace(second=0)
    old = [
        {"received_at": minute + timedelta(seconds=s), "source_address": source, "reason": reason}
        for s, source, reason in [
            (40, "203.0.113.5", "bad_signature"),
            (5, "203.0.113.5", "bad_signature"),
            (59, "203.0.113.5", "bad_signature"),
            (61, "203.0.113.5", "bad_signature"),
            (7, None, "bad_signature"),
            (8, None, "bad_signature"),
            (9, "203.0.113.5", "malformed_json"),
        ]
    ]
    # The table as 0010 left it: one row per delivery, no aggregate columns.
    per_delivery = table(
        "webhook_rejections",
        *(column(name) for name in ("reason", "source_address", "body_sha256", "body_size")),
        column("received_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(insert(per_delivery), [{**row, "body_sha256": "0" * 64, "body_size": 1} for row in old])
    upgrade(engine)
    found = sorted(
        (r.minute_start, r.reason, r.source_address, r.delivery_count, r.received_at, r.last_received_at)
        for r in rows(engine)
    )
    later = minute + timedelta(minutes=1)
    assert found == [
        (
            minute,
            "bad_signature",
            "203.0.113.5",
            3,
            minute + timedelta(seconds=5),
            minute + timedelta(seconds=59),
        ),
        (minute, "bad_signature", "unknown", 2, minute + timedelta(seconds=7), minute + timedelta(seconds=8)),
        (
            minute,
            "malformed_json",
            "203.0.113.5",
            1,
            minute + timedelta(seconds=9),
            minute + timedelta(seconds=9),
        ),
        (
            later,
            "bad_signature",
            "203.0.113.5",
            1,
            later + timedelta(seconds=1),
            later + timedelta(seconds=1),
        ),
    ]
    # The receiver's writes land in the folded rows: the minute keys compare equal.
    with engine.begin() as conn:
        record_rejections(
            conn,
            [
                {
                    "received_at": minute + timedelta(seconds=1),
                    "reason": "bad_signature",
                    "source_address": "203.0.113.5",
                    "event_id": None,
                    "event_type": None,
                    "body_sha256": "0" * 64,
                    "body_size": 1,
                    "detail": None,
                }
            ],
        )
    counted = {(r.minute_start, r.reason, r.source_address): r.delivery_count for r in rows(engine)}
    assert counted[(minute, "bad_signature", "203.0.113.5")] == 4
    assert len(counted) == 4
    engine.dispose()
