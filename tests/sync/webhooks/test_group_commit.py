"""Group commit: deliveries that arrive within the writer's batch delay share one transaction (each
answered only after it commits), and a delivery that already waited that long is written at once."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import event, func, select

from data.db import make_engine
from data.models import Payment, WebhookEvent
from sync.webhooks import store
from sync.webhooks.intake import Delivery, check_delivery, sign
from sync.webhooks.store import EventWriter
from tests.sync.webhooks.events import SECRET, T0, envelope, payment

RECEIVED_AT = datetime.fromtimestamp(T0 + 5, UTC)


def _delivery(n: int) -> Delivery:
    body = orjson.dumps(envelope("payment.captured", T0 + n, payment=payment(pid=f"pay_Group{n:03d}")))
    delivery = check_delivery(
        body=body,
        signature=sign(body, SECRET),
        event_id=f"evt_Group{n:03d}",
        source_address="203.0.113.9",
        secrets=[SECRET],
        received_at=RECEIVED_AT,
    )
    assert isinstance(delivery, Delivery)
    return delivery


def test_deliveries_within_the_batch_delay_share_one_commit_and_are_answered_after_it(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    writer = EventWriter(engine, rollup_interval=3600, batch_delay=2.0)

    async def two_apart() -> list[store.StoreResult]:
        first = writer.submit(_delivery(1))
        await asyncio.sleep(0.1)
        # The first is not answered yet: it waits for company, so nothing is committed.
        assert not first.done()
        assert commits == []
        second = writer.submit(_delivery(2))
        return list(await asyncio.wait_for(asyncio.gather(first, second), timeout=30))

    try:
        results = asyncio.run(two_apart())
        committed_when_answered = len(commits)
    finally:
        writer.stop()
    assert [result.outcome for result in results] == ["stored", "stored"]
    assert committed_when_answered == 1  # both in one transaction, committed before either answer
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(Payment)).scalar_one() == 2
    engine.dispose()


def test_a_delivery_that_already_waited_the_batch_delay_is_written_without_more_wait(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer's clock says 100 s passed between queueing (in this thread) and taking the item (in
    # the writer's): a busy writer took that long. With a 60 s delay measured from when the item
    # was taken instead of queued, the answer would not come within the test's 30 s.
    submitting = threading.current_thread()
    clock = SimpleNamespace(
        monotonic=lambda: 0.0 if threading.current_thread() is submitting else 100.0, sleep=time.sleep
    )
    monkeypatch.setattr(store, "time", clock)
    engine = make_engine(database_url)
    writer = EventWriter(engine, rollup_interval=3600, batch_delay=60.0)

    async def one() -> store.StoreResult:
        return await asyncio.wait_for(writer.submit(_delivery(3)), timeout=30)

    try:
        result = asyncio.run(one())
    finally:
        writer.stop()
    assert result.outcome == "stored"
    engine.dispose()
