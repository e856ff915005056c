"""Disputes (and downtimes) are synced by their declarations through the one loop: exact parity with
the sandbox's truth, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from data.models import Dispute, Downtime
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import expected, stored, sync_once

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


def test_downtimes_sync_from_the_whole_list_in_one_request(
    sandbox: SandboxHandle, database_url: str, engine: Engine
) -> None:
    truth = sandbox.truth("downtimes")
    planted = {d["id"]: d for d in sandbox.manifest()["downtimes"]}
    assert len(truth) == len(planted) == 3
    result = sync_once(engine, sandbox, database_url, entities=["downtimes"])
    counts = result.counts["downtimes"]
    assert (result.status, counts.upserted, counts.requests, counts.windows) == ("succeeded", 3, 1, 1)
    rows = stored(
        engine, Downtime, "id", ("method", "status", "severity", "begin", "end", "bank", "vpa_handle")
    )
    for downtime_id, (method, status, severity, begin, end, bank, vpa_handle) in rows.items():
        want = planted[downtime_id]
        assert (method, status, severity) == (want["method"], "resolved", want["severity"])
        assert (begin, end) == (
            datetime.fromtimestamp(want["begin"], UTC),
            datetime.fromtimestamp(want["end"], UTC),
        )
        assert bank == want["instrument"].get("bank") and vpa_handle == want["instrument"].get("vpa_handle")
    again = sync_once(engine, sandbox, database_url, entities=["downtimes"])
    assert again.status == "succeeded" and again.counts["downtimes"].requests == 1
