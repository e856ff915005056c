"""Property test over headers and bodies: never a 5xx, never an unrecorded rejection, never a stored
event without a valid signature, and never a 4xx for the content of a validly signed JSON body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from data.models import WebhookEvent, WebhookRejection
from tests.sync.webhooks.events import OLD_SECRET, SECRET, T0, envelope, order, payment, refund

CONFIGURED = (SECRET, OLD_SECRET)
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
KNOWN_TYPES = st.sampled_from(
    ["payment.captured", "payment.authorized", "payment.failed", "order.paid", "refund.processed", "x.y"]
)
EVENT_TYPES = st.one_of(KNOWN_TYPES, KNOWN_TYPES, TEXT)
JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | TEXT
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """Razorpay-like payloads with some fields replaced by anything at all."""
    entities: dict[str, Any] = {}
    for name, build in (("payment", payment), ("order", order), ("refund", refund)):
        if draw(st.integers(0, 2)) > 0:
            snapshot = build()
            mutate = draw(st.integers(0, 2)) == 0
            for field in draw(st.lists(st.sampled_from(sorted(snapshot)), max_size=3)) * mutate:
                snapshot[field] = draw(JSON_VALUE)
            entities[name] = snapshot
    return entities


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["envelope", "envelope", "envelope", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return orjson.dumps(draw(JSON_VALUE))
    body = envelope(draw(EVENT_TYPES), T0, **draw(snapshots()))
    broken = draw(st.integers(0, 3)) == 0  # most envelopes keep Razorpay's shape, so they get stored
    for field in (
        draw(st.lists(st.sampled_from(["created_at", "account_id", "payload", "event"]), max_size=2)) * broken
    ):
        if draw(st.booleans()):
            body.pop(field, None)
        else:
            body[field] = draw(JSON_VALUE)
    return orjson.dumps(body)


def valid(body: bytes, signature: str | None) -> bool:
    if signature is None:
        return False
    given_signature = signature.strip().lower()
    return any(
        hmac.compare_digest(hmac.new(s.encode(), body, hashlib.sha256).hexdigest(), given_signature)
        for s in CONFIGURED
    )


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        # Rejections are counted per reason, source and minute: the deliveries are the rows' sum.
        rejected = conn.execute(
            select(func.coalesce(func.sum(WebhookRejection.delivery_count), 0))
        ).scalar_one()
    return stored, rejected


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(WebhookEvent.event_id)).scalars())


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies(),
    how=st.sampled_from(
        ["current", "current", "previous", "other_secret", "garbage", "missing", "uppercase"]
    ),
    garbage=st.text(PRINTABLE, max_size=70),
    event_id=st.one_of(
        st.integers(0, 40).map(lambda n: f"evt_P{n}"),
        *[st.uuids().map(lambda u: f"evt_{u.hex[:14]}")] * 2,
        st.none(),
        st.text(PRINTABLE, max_size=70),
    ),
)
def test_any_delivery_is_stored_once_or_rejected_and_recorded(
    receiver: TestClient, engine: Engine, body: bytes, how: str, garbage: str, event_id: str | None
) -> None:
    signature = {
        "current": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "previous": hmac.new(OLD_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "uppercase": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().upper(),
        "other_secret": hmac.new(b"whsec_attacker", body, hashlib.sha256).hexdigest(),
        "garbage": garbage,
        "missing": None,
    }[how]
    headers = {}
    if signature is not None:
        headers["X-Razorpay-Signature"] = signature
    if event_id is not None:
        headers["X-Razorpay-Event-Id"] = event_id
    ids_before = stored_ids(engine)
    stored_before, rejected_before = counts(engine)

    response = receiver.post("/webhooks/razorpay", content=body, headers=headers)

    stored_after, rejected_after = counts(engine)
    answer = response.json()
    event(
        f"{response.status_code} {answer.get('status') or answer.get('error')} applied={answer.get('applied')}"
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert rejected_after == rejected_before + 1, "a rejection must be recorded"
        assert stored_ids(engine) == ids_before
    else:
        assert response.status_code == 200
        assert valid(body, signature), "stored or counted an event without a valid signature"
        assert rejected_after == rejected_before
        status = answer["status"]
        assert status in ("stored", "duplicate", "conflict")
        assert answer["event_id"] in stored_ids(engine)
        if status == "stored":
            assert answer["event_id"] not in ids_before
        assert stored_after == stored_before + (status == "stored")
    if valid(body, signature) and is_json(body):
        # Once the signature is valid the body is Razorpay's: never refused for what it holds.
        assert response.status_code == 200, response.text


def is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True
