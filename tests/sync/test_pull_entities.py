"""Disputes (and downtimes) are synced by their declarations through the one loop: exact parity with
the sandbox's truth, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from data.models import Dispute
from tests.fixtures.sandbox import SandboxHandle
from tests.sync.helpers import expected, stored, sync_once

DISPUTE_FIELDS = ("payment_id", "amount", "amount_deducted", "currency", "status", "phase", "reason_code")


def test_disputes_sync_with_exact_parity(sandbox: SandboxHandle, database_url: str, engine: Engine) -> None:
    truth = sandbox.truth("disputes")
    assert truth
    first = sync_once(engine, sandbox, database_url, entities=["disputes"])
    assert first.status == "succeeded" and first.counts["disputes"].upserted == len(truth)
    assert stored(engine, Dispute, "id", DISPUTE_FIELDS) == expected(truth, "id", DISPUTE_FIELDS)
    respond_by = stored(engine, Dispute, "id", ("respond_by",))
    assert respond_by == {d["id"]: (datetime.fromtimestamp(d["respond_by"], UTC),) for d in truth}
    before = stored(engine, Dispute, "id", ("updated_at",))
    second = sync_once(engine, sandbox, database_url, entities=["disputes"])
    assert second.status == "succeeded"
    assert stored(engine, Dispute, "id", ("updated_at",)) == before
