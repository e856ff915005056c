"""Validly signed deliveries an attacker (or a broken sender) can craft: each is stored with its reason,
or, past the one structural limit, refused with a recorded 4xx. Never a 5xx. Both databases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from data.models import Payment, Quarantine, WebhookEvent, WebhookRejection
from sync.webhooks import app as receiver_app
from sync.webhooks.intake import MAX_JSON_DEPTH, sign
from tests.sync.webhooks.events import SECRET, T0, envelope, payment, post, refund

RECEIVED = datetime.fromtimestamp(T0 + 60, UTC)  # the receiver's clock, pinned


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver_app, "received_now", lambda: RECEIVED)


def events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookEvent).order_by(WebhookEvent.event_id)).all())


def rejections(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookRejection)).all())


# Rejections are counted per reason, source and minute: the deliveries are the rows' sum.
_rejected_deliveries = select(func.coalesce(func.sum(WebhookRejection.delivery_count), 0))


def metric(client: TestClient, line: str) -> float:
    for row in client.get("/metrics").text.splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("amount", [2**63, 2**64 - 1, 2**64, 10**30, -1])
def test_an_amount_beyond_64_bits_or_negative_is_stored_with_its_apply_error(
    receiver: TestClient, engine: Engine, amount: int
) -> None:
    body = orjson.dumps(envelope("payment.captured", T0, payment=payment(amount=0))).replace(
        b'"amount":0', f'"amount":{amount}'.encode()
    )
    response = post(receiver, body, event_id="evt_big")
    assert response.status_code == 200, response.text
    assert response.json()["applied"] is False
    [event] = events(engine)
    assert event.apply_error is not None and "amount" in event.apply_error
    with engine.connect() as conn:
        assert conn.execute(select(Payment)).all() == []
        [kept] = conn.execute(select(Quarantine.entity, Quarantine.reason)).all()
    assert kept.entity == "payment" and "amount" in kept.reason
    assert metric(receiver, 'payops_webhook_apply_errors_total{event_type="payment.captured"}') == 1


def nested(depth: int) -> bytes:
    """JSON objects nested `depth` levels deep."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 255, 300, 1024, 1025, 5000])
def test_nesting_past_the_documented_bound_is_a_recorded_4xx(
    receiver: TestClient, engine: Engine, depth: int
) -> None:
    body = b'{"event":"payment.captured","created_at":%d,"x":' % T0 + nested(depth - 1) + b"}"
    response = post(receiver, body, event_id="evt_deep")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "too_deep"
    [rejection] = rejections(engine)
    assert (rejection.reason, rejection.event_id) == ("too_deep", "evt_deep")
    assert rejection.body_sha256 == hashlib.sha256(body).hexdigest()
    assert events(engine) == []
    assert metric(receiver, 'payops_webhook_events_rejected_total{event_type="other",reason="too_deep"}') == 1


def test_nesting_within_the_bound_is_stored(receiver: TestClient, engine: Engine) -> None:
    body = b'{"event":"x.y","created_at":%d,"x":' % T0 + nested(MAX_JSON_DEPTH - 2) + b"}"
    assert post(receiver, body, event_id="evt_ok").status_code == 200
    [event] = events(engine)
    assert event.event_type == "x.y"


def test_a_nul_character_is_stored_replaced_and_flagged(receiver: TestClient, engine: Engine) -> None:
    body = envelope("payment.captured", T0, payment=payment(email="a\u0000b@example.com"))
    response = post(receiver, body, event_id="evt_nul")
    assert response.status_code == 200, response.text
    [event] = events(engine)
    assert event.interpretation is not None and "U+0000" in event.interpretation
    assert event.payload["payload"]["payment"]["entity"]["email"] == "a\ufffdb@example.com"


def test_a_future_created_at_is_clamped_to_the_receipt_time_and_flagged(
    receiver: TestClient, engine: Engine
) -> None:
    year_2099 = int(datetime(2099, 1, 1, tzinfo=UTC).timestamp())
    response = post(receiver, envelope("payment.captured", year_2099, payment=payment()), event_id="evt_f")
    assert response.status_code == 200
    [event] = events(engine)
    assert event.created_at == RECEIVED
    assert event.interpretation is not None and "clamped" in event.interpretation
    with engine.connect() as conn:
        state_at = conn.execute(select(Payment.state_at)).scalar_one()
    # A later API sync (state_at = its fetch time) can therefore still move the row on.
    assert state_at == RECEIVED


def test_a_created_at_within_the_clock_skew_is_kept_unflagged(receiver: TestClient, engine: Engine) -> None:
    ahead = int(RECEIVED.timestamp()) + 60
    assert (
        post(receiver, envelope("payment.captured", ahead, payment=payment()), event_id="evt_s").status_code
        == 200
    )
    [event] = events(engine)
    assert event.created_at == RECEIVED  # never later than the receipt
    assert event.interpretation is None


def test_an_event_older_than_the_retry_horizon_is_flagged(receiver: TestClient, engine: Engine) -> None:
    old = int((RECEIVED - timedelta(hours=26)).timestamp())
    assert (
        post(receiver, envelope("payment.captured", old, payment=payment()), event_id="evt_o").status_code
        == 200
    )
    [event] = events(engine)
    assert event.created_at == datetime.fromtimestamp(old, UTC)
    assert event.interpretation is not None and "24 h retry horizon" in event.interpretation
    fresh = int((RECEIVED - timedelta(hours=23)).timestamp())
    assert (
        post(receiver, envelope("payment.failed", fresh, payment=payment()), event_id="evt_n").status_code
        == 200
    )
    assert {e.event_id: e.interpretation for e in events(engine)}["evt_n"] is None


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ("no_created_at", "receipt time used"),
        ("created_at_in_payload", "payload.created_at"),
        ("array_body", "not an object"),
        ("no_event", "'event' missing"),
        ("payload_not_object", "'payload' is not an object"),
        ("account_id_number", "account_id"),
    ],
)
def test_an_odd_shape_is_stored_and_flagged_not_rejected(
    receiver: TestClient, engine: Engine, change: str, note: str
) -> None:
    body: Any = envelope("refund.processed", T0, refund=refund())
    if change == "no_created_at":
        del body["created_at"]
    elif change == "created_at_in_payload":
        body["payload"]["created_at"] = body.pop("created_at")
    elif change == "array_body":
        body = [body]
    elif change == "no_event":
        del body["event"]
    elif change == "payload_not_object":
        body["payload"] = "nothing"
    elif change == "account_id_number":
        body["account_id"] = 42
    response = post(receiver, body, event_id="evt_odd")
    assert response.status_code == 200, response.text
    [event] = events(engine)
    assert event.interpretation is not None and note in event.interpretation
    assert rejections(engine) == []
    assert "payops_webhook_events_interpreted_total{" in receiver.get("/metrics").text
    if change == "created_at_in_payload":
        assert event.created_at == datetime.fromtimestamp(T0, UTC)
        assert event.applied is True


def test_a_missing_event_id_header_is_keyed_by_the_body_hash(receiver: TestClient, engine: Engine) -> None:
    body = orjson.dumps(envelope("payment.captured", T0, payment=payment()))
    assert post(receiver, body, event_id=None).status_code == 200
    assert post(receiver, body, event_id=None).json()["status"] == "duplicate"
    [event] = events(engine)
    assert event.event_id == "sha256:" + hashlib.sha256(body).hexdigest()[:56]
    assert event.interpretation is not None and "X-Razorpay-Event-Id" in event.interpretation


def test_events_of_types_payops_does_not_apply_are_no_apply_errors(
    receiver: TestClient, engine: Engine
) -> None:
    for n, event_type in enumerate(["payment.pending", "subscription.charged", "x.y"]):
        body = envelope(event_type, T0 + n, payment=payment())
        assert post(receiver, body, event_id=f"evt_u{n}").json() == {
            "status": "stored",
            "event_id": f"evt_u{n}",
            "applied": False,
        }
    assert metric(receiver, 'payops_webhook_events_accepted_total{event_type="other"}') == 3
    assert "payops_webhook_apply_errors_total{" not in receiver.get("/metrics").text


# --- property: any signed JSON body ------------------------------------------------------------------

ANY_INT = st.integers() | st.integers(-(2**70), 2**70) | st.sampled_from([2**63, 2**64, -(2**63) - 1])
LEAF = (
    st.none()
    | st.booleans()
    | ANY_INT
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
FIELDS = ["event", "created_at", "account_id", "payload", "entity", "contains"]


@st.composite
def signed_bodies(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from(["envelope", "envelope", "deep", "any"]))
    if shape == "any":
        return _dumps(draw(JSON))
    if shape == "deep":
        depth = draw(st.integers(1, 1100))
        return b'{"event":"payment.captured","x":' + nested(depth) + b"}"
    snapshot = payment(amount=draw(ANY_INT), status=draw(st.sampled_from(["captured", "failed", "x" * 20])))
    body: dict[str, Any] = envelope(
        draw(st.text(max_size=70) | st.just("payment.captured")), T0, payment=snapshot
    )
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        if draw(st.booleans()):
            body.pop(field, None)
        else:
            body[field] = draw(JSON)
    for field in draw(st.lists(st.sampled_from(sorted(snapshot)), max_size=3)):
        snapshot[field] = draw(JSON)
    return _dumps(body)


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()  # the standard library writes integers of any size


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=signed_bodies(),
    event_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80) | st.none(),
)
def test_any_signed_json_body_is_stored_or_refused_as_too_deep_never_a_5xx(
    receiver: TestClient, engine: Engine, body: bytes, event_id: str | None
) -> None:
    with engine.connect() as conn:
        rejected_before = conn.execute(_rejected_deliveries).scalar_one()
    headers = {"X-Razorpay-Signature": sign(body, SECRET)}
    if event_id is not None:
        headers["X-Razorpay-Event-Id"] = event_id
    response = receiver.post("/webhooks/razorpay", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert (response.status_code, response.json()["error"]) == (400, "too_deep")
        with engine.connect() as conn:
            assert conn.execute(_rejected_deliveries).scalar_one() == rejected_before + 1
    else:
        assert response.json()["status"] in ("stored", "duplicate", "conflict")


def test_one_batch_with_a_replayed_body_and_a_conflicting_body(engine: Engine) -> None:
    """The writer's group commit puts concurrent deliveries in one statement: the body-hash key still
    makes a replay a duplicate and another body under a known id a conflict."""
    from sync.webhooks.intake import Delivery, check_delivery
    from sync.webhooks.store import write_items

    def delivery(body: dict[str, Any], event_id: str) -> Delivery:
        raw = orjson.dumps(body)
        item = check_delivery(
            body=raw,
            signature=sign(raw, SECRET),
            event_id=event_id,
            source_address=None,
            secrets=[SECRET],
            received_at=RECEIVED,
        )
        assert isinstance(item, Delivery)
        return item

    first = envelope("payment.captured", T0, payment=payment())
    other = envelope("payment.captured", T0 + 1, payment=payment(amount=7))
    items = [delivery(first, "evt_A"), delivery(first, "evt_B"), delivery(other, "evt_A")]
    with engine.begin() as conn:
        results = write_items(conn, items)
    assert [(r.outcome, r.event_id) for r in results] == [
        ("stored", None),
        ("duplicate", "evt_A"),
        ("conflict", "evt_A"),
    ]
    [event] = events(engine)
    assert (event.event_id, event.delivery_count, event.conflict_count) == ("evt_A", 2, 1)
