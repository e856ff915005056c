"""What an unauthenticated client can make the receiver spend: a stalled body is cut off with a 408
(and recorded), and `/metrics` can leave the public port for an internal one."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import requests
from sqlalchemy import Engine, select
from starlette.testclient import TestClient
from starlette.types import Message

from data.models import WebhookRejection
from sync.webhooks.app import WEBHOOK_PATH, create_app
from tests.sync.webhooks.events import SECRET, T0, envelope, payment, post


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _post_stalled_body(app: Any) -> list[Message]:
    """A client that sends the headers and one chunk, then never the rest of the body."""
    sent: list[Message] = []
    first = True

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"event": "payment.captured",', "more_body": True}
        await asyncio.Event().wait()  # stalls forever
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": WEBHOOK_PATH,
        "headers": [(b"x-razorpay-event-id", b"evt_slow"), (b"content-length", b"4000")],
        "client": ("203.0.113.9", 5555),
        "query_string": b"",
    }
    route = next(r for r in app.routes if getattr(r, "path", None) == WEBHOOK_PATH)
    await route.app(scope, receive, send)
    return sent


def test_stalled_body_is_answered_408_and_recorded(database_url: str, engine: Engine) -> None:
    app = create_app(database_url, [SECRET], body_read_timeout=0.2)
    with TestClient(app) as client:
        sent = client.portal.call(_post_stalled_body, app)  # type: ignore[union-attr]
    assert sent[0]["status"] == 408
    with engine.connect() as conn:
        [row] = conn.execute(select(WebhookRejection)).all()
    assert (row.reason, row.event_id, row.source_address, row.body_size) == (
        "body_timeout",
        "evt_slow",
        "203.0.113.9",
        0,
    )


def test_metrics_can_be_served_on_an_internal_port_only(database_url: str) -> None:
    port = _free_port()
    app = create_app(database_url, [SECRET], metrics_address=("127.0.0.1", port))
    with TestClient(app) as client:
        body = envelope("payment.failed", T0, payment=payment(status="failed"))
        assert post(client, body, event_id="evt_int").status_code == 200
        assert client.get("/metrics").status_code == 404
        internal = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert internal.status_code == 200
        assert 'payops_webhook_events_accepted_total{event_type="payment.failed"} 1.0' in internal.text
