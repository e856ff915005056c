"""Every writer serialises JSON through data.db's one serialiser: the receiver and the sync (here through
plain `data.db.make_engine`, as the dashboard's "Run sync now" does) store the same text, so the sync's
change check compares stored text and a re-read of what the receiver stored rewrites nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Text, cast, select
from starlette.testclient import TestClient

from data.db import json_text
from data.models import Payment
from sync.entities import NormaliseContext, entity_spec
from sync.pull import write_rows
from tests.sync.webhooks.events import T0, envelope, payment, post


def stored(engine: Engine, pid: str) -> tuple[str, datetime]:
    with engine.connect() as conn:
        row = conn.execute(select(cast(Payment.raw, Text), Payment.updated_at).where(Payment.id == pid)).one()
    return row[0], row[1]


def sync_write(engine: Engine, snapshot: dict[str, Any]) -> int:
    ctx = NormaliseContext(state_at=datetime.fromtimestamp(T0 + 3600, UTC), source="api")
    with engine.begin() as conn:
        upserted, quarantined = write_rows(conn, entity_spec("payments"), [snapshot], ctx, run_id=None)
    assert quarantined == 0
    return upserted


def test_the_receiver_and_the_sync_store_the_same_json(receiver: TestClient, engine: Engine) -> None:
    fields: dict[str, Any] = {"notes": {"country": "IN", "order": 7}, "acquirer_data": {"rrn": "1234"}}
    response = post(
        receiver, envelope("payment.captured", T0, payment=payment("pay_J1", **fields)), event_id="evt_J1"
    )
    assert response.status_code == 200
    assert sync_write(engine, payment("pay_J2", **fields)) == 1

    by_receiver, _ = stored(engine, "pay_J1")
    by_sync, _ = stored(engine, "pay_J2")
    assert by_sync == by_receiver.replace("pay_J1", "pay_J2")
    if engine.dialect.name == "sqlite":  # PostgreSQL's JSONB renders its own text
        assert by_sync.startswith('{"id":"pay_J2","entity":"payment",')  # compact, keys as the API sent
        assert by_sync == json_text(orjson.loads(by_sync))


def test_a_sync_re_read_of_what_the_receiver_stored_rewrites_nothing(
    receiver: TestClient, engine: Engine
) -> None:
    snapshot = payment("pay_J3", notes={"country": "IN"})
    post(receiver, envelope("payment.captured", T0, payment=snapshot), event_id="evt_J3")
    before = stored(engine, "pay_J3")

    sync_write(engine, snapshot)  # newer state_at, same values: the change check says unchanged
    sync_write(engine, snapshot)

    assert stored(engine, "pay_J3") == before
