"""Quarantine keeps a bad record with its reason, once per fingerprint, with the full VPA scrubbed."""

from __future__ import annotations

from sqlalchemy import Engine, select

from data.models import Quarantine
from sync.quarantine import quarantine


def test_quarantine_is_idempotent_by_fingerprint_and_scrubs_the_vpa(engine: Engine) -> None:
    record = {"id": "pay_Q1", "amount": None, "vpa": "real.person@okaxis", "method": "upi"}
    with engine.begin() as conn:
        quarantine(conn, entity="payments", raw=record, reason="amount missing", source="api", run_id=1)
        quarantine(
            conn, entity="payments", raw=dict(record), reason="amount missing (again)", source="api", run_id=2
        )
        quarantine(conn, entity="orders", raw="{not json", reason="not JSON", source="file")
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Quarantine.entity, Quarantine.entity_id, Quarantine.reason, Quarantine.run_id, Quarantine.raw
            ).order_by(Quarantine.id)
        ).all()
    assert len(rows) == 2
    entity, entity_id, reason, run_id, raw = rows[0]
    assert (entity, entity_id, reason, run_id) == ("payments", "pay_Q1", "amount missing (again)", 2)
    assert "real.person" not in raw and "***@okaxis" in raw
    assert rows[1][0] == "orders" and rows[1][4] == "{not json" and rows[1][1] is None
