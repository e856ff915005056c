"""Bulk work on mismatches: filter, act on all in one transaction (one audit row, per-mismatch history),
worklist by age and owner, streamed export with ₹ and IST."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select

from analytics import mismatch_bulk
from analytics.mismatch_bulk import (
    BulkConflict,
    MismatchFilter,
    bulk_apply,
    evidence_time,
    export_mismatches,
    worklist,
)
from data import money
from data.models import AuditLog, Mismatch, MismatchEvent
from tests.support.factories import payment, write

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _mismatch(n: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": f"captured_not_settled:pay_{n}",
        "rule": "captured_not_settled",
        "severity": "high",
        "status": "open",
        "auto_resolved": False,
        "payment_id": f"pay_{n}",
        "currency": "INR",
        "expected_amount": 150_000_00,
        "actual_amount": 0,
        "explanation": f"Payment pay_{n} has no settlement line.",
        "evidence": {
            "payment_id": f"pay_{n}",
            "amount": 150_000_00,
            "captured_at": "2026-11-20T05:00:00+00:00",
        },
        "first_seen_at": NOW - timedelta(days=2),
        "last_seen_at": NOW,
        "evidence_at": NOW - timedelta(days=11),
        "due_at": NOW - timedelta(days=8),
    }
    row.update(fields)
    return row


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Mismatch),
            [
                _mismatch(1),
                _mismatch(2, status="acknowledged"),
                _mismatch(3, status="resolved"),
                _mismatch(4, evidence_at=NOW - timedelta(hours=5), expected_amount=500_00),
                _mismatch(5, rule="fee_rate_anomaly", key="fee_rate_anomaly:pay_5", severity="low"),
            ],
        )
        write(
            conn,
            "payments",
            payment("pay_1", method="upi"),
            payment("pay_2", method="card"),
            payment("pay_4", method="upi"),
        )


def _statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        return {row.payment_id: (row.status, row.owner) for row in conn.execute(select(Mismatch))}


def test_bulk_resolve_by_filter_writes_history_per_mismatch_and_one_audit_row(engine: Engine) -> None:
    _seed(engine)
    selection = MismatchFilter(rule="captured_not_settled", min_age_days=7)
    result = bulk_apply(
        engine, selection, "resolve", actor="asha", reason_code="timing", note="paid out late", now=NOW
    )
    assert result.count == 2  # pay_1 (open) and pay_2 (acknowledged); pay_3 is resolved, pay_4 is 5 hours old
    assert _statuses(engine) == {
        "pay_1": ("resolved", None),
        "pay_2": ("resolved", None),
        "pay_3": ("resolved", None),
        "pay_4": ("open", None),
        "pay_5": ("open", None),
    }
    with engine.connect() as conn:
        history = conn.execute(
            select(
                MismatchEvent.mismatch_id,
                MismatchEvent.action,
                MismatchEvent.from_status,
                MismatchEvent.to_status,
                MismatchEvent.note,
            ).order_by(MismatchEvent.mismatch_id)
        ).all()
        audit = conn.execute(
            select(AuditLog.actor, AuditLog.action, AuditLog.detail).where(
                AuditLog.action.like("mismatch.bulk%")
            )
        ).all()
        reasons = set(conn.execute(select(Mismatch.reason_code).where(Mismatch.id.in_(result.ids))).scalars())
    assert [(action, before, after, note) for _, action, before, after, note in history] == [
        ("resolved", "open", "resolved", "timing · paid out late"),
        ("resolved", "acknowledged", "resolved", "timing · paid out late"),
    ]
    assert len(audit) == 1
    assert audit[0].actor == "asha" and audit[0].action == "mismatch.bulk_resolve"
    assert audit[0].detail["count"] == 2 and audit[0].detail["ids"] == result.ids
    assert audit[0].detail["filter"] == {"rule": "captured_not_settled", "min_age_days": 7}
    assert reasons == {"timing"}


def test_filters_by_method_amount_and_status(engine: Engine) -> None:
    _seed(engine)
    upi = bulk_apply(
        engine,
        MismatchFilter(method="upi", amount_max=1_000_00),
        "acknowledge",
        actor="asha",
        reason_code="bank_delay",
        now=NOW,
    )
    assert upi.count == 1  # pay_4: UPI and ₹500; pay_1 is UPI but ₹1.5 lakh
    assert _statuses(engine)["pay_4"] == ("acknowledged", None)


def test_a_failure_midway_applies_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(engine)

    def broken_audit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(mismatch_bulk, "record_audit", broken_audit)
    with pytest.raises(RuntimeError, match="audit store down"):
        bulk_apply(engine, MismatchFilter(), "resolve", actor="asha", reason_code="timing", now=NOW)
    assert {status for status, _ in _statuses(engine).values()} == {"open", "acknowledged", "resolved"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MismatchEvent)).scalar_one() == 0


def test_reason_codes_come_from_the_configured_list_and_assign_needs_a_person(engine: Engine) -> None:
    _seed(engine)
    with pytest.raises(BulkConflict, match="reason code 'because' is not one of"):
        bulk_apply(engine, MismatchFilter(), "resolve", actor="asha", reason_code="because", now=NOW)
    with pytest.raises(BulkConflict, match="needs the person"):
        bulk_apply(engine, MismatchFilter(), "assign", actor="asha", reason_code=None, now=NOW)


def test_assign_then_worklist_puts_mine_first_by_age_bucket(engine: Engine) -> None:
    _seed(engine)
    assigned = bulk_apply(
        engine,
        MismatchFilter(rule="captured_not_settled"),
        "assign",
        actor="lead",
        reason_code=None,
        owner="asha",
        now=NOW,
    )
    assert assigned.count == 3  # open and acknowledged ones; the resolved one keeps its owner (none)
    rows = worklist(engine, MismatchFilter(), me="asha", now=NOW).to_dict(orient="records")
    assert rows == [
        {"owner": "asha", "mine": True, "age_bucket": "0–2 days", "count": 1, "overdue": 1},
        {"owner": "asha", "mine": True, "age_bucket": "8–30 days", "count": 2, "overdue": 2},
        {"owner": "unassigned", "mine": False, "age_bucket": "8–30 days", "count": 2, "overdue": 2},
    ]


def test_export_is_readable_money_in_rupees_and_times_in_ist(engine: Engine) -> None:
    _seed(engine)
    out = io.StringIO()
    assert export_mismatches(engine, MismatchFilter(status="open"), out, now=NOW) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    first = rows[0]
    # Money: exact minor units beside the currency (the rule of every CSV), and ₹ text for reading.
    assert first["Currency"] == "INR" and first["Expected (minor units)"] == "15000000"
    assert first["Expected (formatted)"] == "₹1,50,000.00"
    assert first["Started (IST)"] == "2026-11-20 17:30:00"
    assert first["Age (days, from the evidence)"] == "11.0"
    assert (
        "amount: ₹1,50,000.00" in first["Evidence (₹ formatted, times IST)"]
        and "captured_at: 20 Nov 2026 10:30 IST" in first["Evidence (₹ formatted, times IST)"]
    )


def test_evidence_time_reads_the_rules_keys() -> None:
    assert evidence_time({"captured_at": "2026-11-20T05:00:00+00:00"}) == datetime(
        2026, 11, 20, 5, tzinfo=UTC
    )
    assert evidence_time({"processed_on": "2026-11-30"}) == datetime(2026, 11, 29, 18, 30, tzinfo=UTC)
    assert evidence_time({"amount": 5}) is None


@given(st.integers(min_value=-(10**13), max_value=10**13), st.sampled_from(["INR", "USD", "JPY", "EUR"]))
def test_export_money_is_what_data_money_displays(minor: int, currency: str) -> None:
    assert mismatch_bulk._money(minor, currency) == money.display(minor, currency)


def test_cli_bulk_and_export(engine: Engine, database_url: str, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from analytics.__main__ import app

    _seed(engine)
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["bulk", "resolve", "--actor", "asha", "--reason", "timing", "--rule", "captured_not_settled",
         "--min-age", "7", "--database-url", database_url],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "resolve: 2 mismatches by asha" in done.output
    bad = runner.invoke(
        app, ["bulk", "resolve", "--actor", "asha", "--reason", "nope", "--database-url", database_url]
    )
    assert bad.exit_code == 2 and "is not one of" in bad.output
    path = tmp_path / "open.csv"
    exported = runner.invoke(
        app, ["export-mismatches", "--status", "open", "--out", str(path), "--database-url", database_url]
    )
    assert exported.exit_code == 0, exported.output
    assert len(list(csv.DictReader(path.open(encoding="utf-8")))) == 2  # pay_4 and pay_5 are still open
