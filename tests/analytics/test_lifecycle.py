"""The mismatch lifecycle: detection is idempotent, people decide, cleared conditions auto-resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, func, select

from analytics import mismatches
from analytics.reconcile import reconcile
from data.models import AuditLog, Mismatch, MismatchEvent, SettlementLine
from tests.support.factories import payment, settlement_line, write

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
OLD = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_unsettled", created_at=OLD, amount=12_300),
            payment("pay_stale", created_at=OLD, status="authorized"),
        )


def events(engine: Engine, mismatch_id: int) -> list[tuple[str, str | None, str]]:
    history = mismatches.mismatch_history(engine, mismatch_id)
    return list(zip(history["action"], history["from_status"], history["to_status"], strict=True))


def test_detection_is_idempotent(engine: Engine) -> None:
    seed(engine)
    first = reconcile(engine, now=NOW)
    second = reconcile(engine, now=NOW + timedelta(hours=1))
    assert first.found["captured_not_settled"] == 1 and first.found["authorized_not_captured"] == 1
    assert (first.new, second.new, second.still_open) == (2, 0, 2)
    listed = mismatches.list_mismatches(engine, now=NOW + timedelta(days=2))
    assert sorted(listed["rule"]) == ["authorized_not_captured", "captured_not_settled"]
    row = listed[listed["rule"] == "captured_not_settled"].iloc[0]
    assert (row["payment_id"], row["expected_amount"], row["status"], row["age_days"]) == (
        "pay_unsettled",
        12_300,
        "open",
        12.0,  # from the evidence: captured on OLD, 12 days before (not the 2 days since reconcile saw it)
    )
    assert row["last_seen_at"] == NOW + timedelta(hours=1)
    assert "no settlement line" in row["explanation"] and row["usual_cause"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Mismatch)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(MismatchEvent)).scalar_one() == 2


def test_acknowledge_resolve_and_audit(engine: Engine) -> None:
    seed(engine)
    reconcile(engine, now=NOW)
    listed = mismatches.list_mismatches(engine, rule="captured_not_settled")
    mismatch_id = int(listed.iloc[0]["id"])

    mismatches.acknowledge(
        engine, mismatch_id, "asha@finance", "asked Razorpay support", now=NOW + timedelta(hours=1)
    )
    assert mismatches.get_mismatch(engine, mismatch_id)["status"] == "acknowledged"  # type: ignore[index]
    with pytest.raises(mismatches.InvalidTransition):
        mismatches.acknowledge(engine, mismatch_id, "asha@finance")
    mismatches.resolve(engine, mismatch_id, "asha@finance", "paid in setl_X", now=NOW + timedelta(hours=2))
    record = mismatches.get_mismatch(engine, mismatch_id, now=NOW + timedelta(days=5))
    assert record is not None
    assert (record["status"], record["updated_by"], record["note"]) == (
        "resolved",
        "asha@finance",
        "paid in setl_X",
    )
    # Age runs from the evidence (the capture on OLD) and stops at resolution (NOW + 2 h).
    assert record["age_days"] == round(10 + 2 / 24, 2)
    assert events(engine, mismatch_id) == [
        ("detected", None, "open"),
        ("acknowledged", "open", "acknowledged"),
        ("resolved", "acknowledged", "resolved"),
    ]
    with engine.connect() as conn:
        audit = conn.execute(
            select(AuditLog.actor, AuditLog.action, AuditLog.target)
            .where(AuditLog.action.like("mismatch.%"))
            .order_by(AuditLog.id)
        ).all()
    assert [tuple(row) for row in audit] == [
        ("asha@finance", "mismatch.acknowledged", f"mismatch:{mismatch_id}"),
        ("asha@finance", "mismatch.resolved", f"mismatch:{mismatch_id}"),
    ]
    # A person's resolution stands when the condition is detected again.
    reconcile(engine, now=NOW + timedelta(hours=3))
    assert mismatches.get_mismatch(engine, mismatch_id)["status"] == "resolved"  # type: ignore[index]


def test_cleared_condition_auto_resolves_and_returns(engine: Engine) -> None:
    seed(engine)
    reconcile(engine, now=NOW)
    mismatch_id = int(mismatches.list_mismatches(engine, rule="captured_not_settled").iloc[0]["id"])
    mismatches.acknowledge(engine, mismatch_id, "asha@finance", now=NOW)

    with engine.begin() as conn:
        write(conn, "settlement_lines", settlement_line("pay_unsettled", amount=12_300, credit=12_300))
    result = reconcile(engine, now=NOW + timedelta(days=1))
    assert result.auto_resolved == 1
    record = mismatches.get_mismatch(engine, mismatch_id)
    assert record is not None and (record["status"], record["auto_resolved"]) == ("resolved", True)

    with engine.begin() as conn:
        conn.execute(delete(SettlementLine))
    result = reconcile(engine, now=NOW + timedelta(days=2))
    assert result.reopened == 1
    assert mismatches.get_mismatch(engine, mismatch_id)["status"] == "open"  # type: ignore[index]
    assert [action for action, _from, _to in events(engine, mismatch_id)] == [
        "detected",
        "acknowledged",
        "auto_resolved",
        "reopened",
    ]


def test_bad_requests_are_refused(engine: Engine) -> None:
    with pytest.raises(mismatches.MismatchNotFound):
        mismatches.resolve(engine, 999, "asha@finance")
    with pytest.raises(ValueError, match="status"):
        mismatches.list_mismatches(engine, status="closed")
    with pytest.raises(ValueError, match="unknown rule"):
        reconcile(engine, now=NOW, rules=["no_such_rule"])
    seed(engine)
    reconcile(engine, now=NOW)
    with pytest.raises(mismatches.MismatchError, match="actor"):
        mismatches.acknowledge(engine, 1, " ")


def test_summary_keeps_currencies_apart(engine: Engine) -> None:
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_inr", created_at=OLD, amount=1_000),
            payment("pay_inr2", created_at=OLD, amount=2_000),
            payment("pay_usd", created_at=OLD, amount=500, currency="USD"),
        )
    reconcile(engine, now=NOW, rules=["captured_not_settled"])
    summary = mismatches.mismatch_summary(engine, now=NOW)
    rows = {
        record["currency"]: (record["count"], record["expected_amount"])
        for record in summary.to_dict(orient="records")
    }
    assert rows == {"INR": (2, 3_000), "USD": (1, 500)}


def test_the_page_and_the_cli_offer_what_the_lifecycle_allows() -> None:
    assert mismatches.allowed_decisions("open") == ["acknowledge", "resolve"]
    assert mismatches.allowed_decisions("acknowledged") == ["resolve", "reopen"]
    assert mismatches.allowed_decisions("resolved") == ["reopen"]
    assert mismatches.allowed_decisions("closed") == []


def test_decide_follows_the_transitions(engine: Engine) -> None:
    seed(engine)
    reconcile(engine, now=NOW)
    mismatch_id = int(mismatches.list_mismatches(engine, rule="captured_not_settled").iloc[0]["id"])
    with pytest.raises(mismatches.InvalidTransition, match="is open; cannot mark it reopened"):
        mismatches.decide(engine, mismatch_id, "reopen", "asha@finance", now=NOW)
    with pytest.raises(mismatches.MismatchError, match="unknown decision"):
        mismatches.decide(engine, mismatch_id, "close", "asha@finance", now=NOW)  # type: ignore[arg-type]
    mismatches.decide(engine, mismatch_id, "resolve", "asha@finance", "paid out late", now=NOW)
    record = mismatches.get_mismatch(engine, mismatch_id, now=NOW)
    assert record is not None
    assert (record["status"], record["auto_resolved"], record["resolved_at"], record["note"]) == (
        "resolved",
        False,
        NOW,
        "paid out late",
    )
    assert events(engine, mismatch_id) == [("detected", None, "open"), ("resolved", "open", "resolved")]


def test_reconciliation_changes_status_only_along_the_transitions(engine: Engine) -> None:
    seed(engine)
    reconcile(engine, now=NOW)
    mismatch_id = int(mismatches.list_mismatches(engine, rule="captured_not_settled").iloc[0]["id"])
    with engine.begin() as conn, pytest.raises(mismatches.InvalidTransition):
        mismatches.apply_system(
            conn, "auto_resolved", [(mismatch_id, "resolved")], at=NOW, actor="system", note="cleared"
        )
    with engine.begin() as conn:
        mismatches.apply_system(
            conn, "auto_resolved", [(mismatch_id, "open")], at=NOW, actor="system", note="cleared"
        )
    record = mismatches.get_mismatch(engine, mismatch_id, now=NOW)
    assert record is not None and (record["status"], record["auto_resolved"]) == ("resolved", True)
    assert events(engine, mismatch_id)[-1] == ("auto_resolved", "open", "resolved")
