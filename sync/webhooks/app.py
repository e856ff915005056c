"""The receiver's ASGI app: `POST /webhooks/razorpay`, `POST /checkout/confirmations`, `GET /healthz`,
`GET /metrics`.

Every delivery is answered only after its outcome (stored, duplicate or rejection row) is committed,
and within ANSWER_WITHIN_SECONDS: Razorpay waits 5 s, and a 5xx or timeout makes it retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from data.db import make_engine
from data.errors import describe_error
from data.settings import get_settings
from data.webhook_events import database_reachable
from sync.webhooks.confirmations import CONFIRMATIONS_PATH, confirmation_endpoint
from sync.webhooks.intake import (
    EVENT_ID_HEADER,
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    Delivery,
    Rejection,
    body_timeout,
    check_delivery,
    too_large,
)
from sync.webhooks.metrics import ReceiverMetrics, event_type_label
from sync.webhooks.store import EventWriter, StoreResult, WriterFull, received_now

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/razorpay"
# An answer: status, JSON content and extra headers.
_Answer = tuple[int, dict[str, object], Sequence[tuple[bytes, bytes]]]
# Razorpay gives up on a delivery after 5 s; answering 503 before that is better than its timeout.
ANSWER_WITHIN_SECONDS = 4.0
# A body that does not arrive within this is a stalled (or slow-loris) client holding a connection.
BODY_READ_TIMEOUT_SECONDS = 10.0  # the Settings default (PAYOPS_WEBHOOK_BODY_TIMEOUT)
# Razorpay retries on its own schedule; the header says when this receiver expects to have room.
_RETRY_LATER = ((b"retry-after", b"5"),)
_JSON_TYPE = (b"content-type", b"application/json")
_SIGNATURE = SIGNATURE_HEADER.encode()
_EVENT_ID = EVENT_ID_HEADER.encode()


def create_app(
    database_url: str | None = None,
    secrets: list[str] | None = None,
    *,
    rollup_interval: float | None = None,
    key_secrets: list[tuple[str, str]] | None = None,
    body_read_timeout: float | None = None,
    metrics_address: tuple[str, int] | None = None,
    max_pending: int | None = None,
    batch_delay: float | None = None,
) -> Starlette:
    """Build a receiver writing to `database_url` (default DATABASE_URL) and verifying with `secrets`
    (default RAZORPAY_WEBHOOK_SECRET, comma-separated). The schema must exist (`python -m data upgrade`).

    `rollup_interval` (default: Settings' webhook_rollup_interval, env PAYOPS_WEBHOOK_ROLLUP_INTERVAL,
    else 1 s): how often payment
    rollups are refreshed for the hours the events touched; 0 = in every write transaction.
    `key_secrets` (default RAZORPAY_KEY_SECRET, then RAZORPAY_PREVIOUS_KEY_SECRETS) verify checkout
    confirmations.
    `body_read_timeout`: seconds a request body may take to arrive (then 408, recorded as a rejection).
    `metrics_address` (host, port): serve `/metrics` there, on an internal interface, instead of on this
    app (default: env PAYOPS_METRICS_PORT / PAYOPS_METRICS_HOST, else on this app).
    `max_pending` (default: Settings' webhook_max_pending, env PAYOPS_WEBHOOK_MAX_PENDING): deliveries
    queued for the writer beyond which a delivery is answered 503 + Retry-After at once.
    `batch_delay` (default: Settings' webhook_batch_delay, env PAYOPS_WEBHOOK_BATCH_DELAY, else 0.01 s):
    how long a delivery may wait for others to share its transaction.
    """
    settings = get_settings()
    secret_list: Sequence[str] = list(secrets) if secrets is not None else settings.webhook_secrets
    if not secret_list or not all(secret_list):
        raise ValueError("no webhook secret configured (RAZORPAY_WEBHOOK_SECRET)")
    if rollup_interval is None:
        rollup_interval = settings.webhook_rollup_interval
    if body_read_timeout is None:
        body_read_timeout = settings.webhook_body_timeout
    if max_pending is None:
        max_pending = settings.webhook_max_pending
    if batch_delay is None:
        batch_delay = settings.webhook_batch_delay
    engine = make_engine(database_url)
    writer = EventWriter(
        engine,
        country_notes_key=settings.country_notes_key,
        rollup_interval=max(0.0, rollup_interval),
        max_pending=max_pending,
        batch_delay=max(0.0, batch_delay),
    )
    metrics = ReceiverMetrics()

    async def healthz(_request: Request) -> Response:
        if await run_in_threadpool(database_reachable, engine):
            return _json({"status": "ok", "database": "reachable"}, 200)
        return _json({"status": "unavailable", "database": "unreachable"}, 503)

    async def prometheus(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if metrics_address is None and settings.payops_metrics_port is not None:
        metrics_address = (settings.payops_metrics_host, settings.payops_metrics_port)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        internal = None
        if metrics_address is not None:
            host, port = metrics_address
            internal, _thread = start_http_server(port, host, registry=metrics.registry)
        try:
            yield
        finally:
            if internal is not None:
                internal.shutdown()
                internal.server_close()
            await run_in_threadpool(writer.stop)
            engine.dispose()

    webhook = WebhookEndpoint(secret_list, writer, metrics, body_read_timeout)
    routes = [
        Route(WEBHOOK_PATH, webhook),
        Route(
            CONFIRMATIONS_PATH,
            confirmation_endpoint(
                engine, key_secrets if key_secrets is not None else settings.checkout_key_secrets
            ),
            methods=["POST"],
        ),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if metrics_address is None:
        routes.append(Route("/metrics", prometheus, methods=["GET"]))
    app = ReceiverApp(webhook, routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    app.state.engine = engine
    return app


class ReceiverApp(Starlette):
    """The receiver's Starlette app, with `POST /webhooks/razorpay` taken before the middleware stack
    and the router: every delivery pays for them otherwise (about a third of the request's CPU), and
    the endpoint handles its own errors. Every other path is plain Starlette."""

    def __init__(self, webhook: WebhookEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._webhook = webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await self._webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class WebhookEndpoint:
    """`POST /webhooks/razorpay` as a plain ASGI app: the hot path, so headers and body are read
    straight from the ASGI scope and messages, and the answer is sent as two ASGI messages."""

    def __init__(
        self,
        secrets: Sequence[str],
        writer: EventWriter,
        metrics: ReceiverMetrics,
        body_read_timeout: float = BODY_READ_TIMEOUT_SECONDS,
    ) -> None:
        self._secrets = secrets
        self._body_read_timeout = body_read_timeout
        self._writer = writer
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _send_json(send, 405, {"error": "method not allowed"}, ((b"allow", b"POST"),))
            return
        status, content, headers = await self._handle(scope, receive)
        await _send_json(send, status, content, headers)

    async def _handle(self, scope: Scope, receive: Receive) -> _Answer:
        started = time.perf_counter()
        item = await _delivery_or_rejection(
            scope, receive, self._secrets, received_now(), self._body_read_timeout
        )
        metrics = self._metrics
        try:
            # asyncio.timeout, not wait_for: no task per request. On timeout the future is cancelled,
            # and the writer skips a cancelled item it has not begun.
            async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                result = await self._writer.submit(item)
        except WriterFull:
            # Over the configured queue: answering now is cheaper for both sides than in 4 s.
            metrics.failures.labels("overloaded").inc()
            metrics.latency.labels("error").observe(time.perf_counter() - started)
            return 503, {"error": "busy, retry later"}, _RETRY_LATER
        except TimeoutError:
            metrics.failures.labels("timeout").inc()
            metrics.latency.labels("error").observe(time.perf_counter() - started)
            return 503, {"error": "busy, retry later"}, _RETRY_LATER
        except Exception as error:
            logger.error("webhook delivery could not be stored: %s", describe_error(error))
            metrics.failures.labels("database").inc()
            metrics.latency.labels("error").observe(time.perf_counter() - started)
            return 500, {"error": "could not store the event, retry later"}, ()
        answer = _answer(item, result, metrics)
        metrics.latency.labels(result.outcome).observe(time.perf_counter() - started)
        return answer


async def _delivery_or_rejection(
    scope: Scope, receive: Receive, secrets: Sequence[str], received_at: datetime, read_timeout: float
) -> Delivery | Rejection:
    signature = event_id = None
    declared_size: int | None = None
    for name, value in scope["headers"]:
        if name == _SIGNATURE:
            signature = value.decode("latin-1")
        elif name == _EVENT_ID:
            event_id = value.decode("latin-1")
        elif name == b"content-length" and value.isdigit():
            declared_size = int(value)
    client = scope.get("client")
    source_address = str(client[0]) if client else None
    try:
        async with asyncio.timeout(read_timeout):
            body, over = await _read_capped(receive, declared_size)
    except TimeoutError:
        return body_timeout(
            read_timeout=read_timeout,
            event_id=event_id,
            source_address=source_address,
            received_at=received_at,
        )
    if over:
        return too_large(
            body_prefix=body,
            declared_size=declared_size,
            event_id=event_id,
            source_address=source_address,
            received_at=received_at,
        )
    return check_delivery(
        body=body,
        signature=signature,
        event_id=event_id,
        source_address=source_address,
        secrets=secrets,
        received_at=received_at,
    )


async def _read_capped(receive: Receive, declared_size: int | None) -> tuple[bytes, bool]:
    """At most MAX_BODY_BYTES + 1 bytes of the body, and whether it is over the limit."""
    if declared_size is not None and declared_size > MAX_BODY_BYTES:
        # No need to read what is already known to be refused.
        return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away mid-body: what arrived is judged (and will fail verification).
            break
        chunk = message.get("body", b"")[: MAX_BODY_BYTES + 1 - size]
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks), True
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _answer(item: Delivery | Rejection, result: StoreResult, metrics: ReceiverMetrics) -> _Answer:
    if isinstance(item, Rejection):
        metrics.rejected.labels(item.reason, event_type_label(item.event_type)).inc()
        return item.status_code, {"error": item.reason, "detail": item.detail}, ()
    label = event_type_label(item.event_type)
    if result.outcome == "duplicate":
        metrics.duplicates.labels(label).inc()
        return 200, {"status": "duplicate", "event_id": result.event_id or item.event_id}, ()
    if result.outcome == "conflict":
        # Answered 200: the body is validly signed and kept; retrying would not make it agree.
        metrics.conflicts.labels(label).inc()
        return 200, {"status": "conflict", "event_id": result.event_id or item.event_id}, ()
    metrics.accepted.labels(label).inc()
    metrics.lag.observe(max(0.0, item.lag.total_seconds()))
    if result.apply_failed:
        metrics.apply_errors.labels(label).inc()
    if item.interpretation:
        metrics.interpreted.labels(label).inc()
    return 200, {"status": "stored", "event_id": item.event_id, "applied": result.applied}, ()


async def _send_json(
    send: Send, status: int, content: dict[str, object], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON_TYPE, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json(content: dict[str, object], status_code: int) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
