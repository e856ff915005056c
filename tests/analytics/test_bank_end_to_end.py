"""Sandbox → sync → bank statement import → reconcile, once per statement format: every planted bank
fault is found by its rule (recall 1) and nothing else is flagged (no false break)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select

from analytics.reconcile import BANK_RULE_IDS, reconcile
from data.models import BankMatch, BankStatement, BankStatementLine, Mismatch, MismatchEvent, Quarantine
from tests.analytics.test_end_to_end import _env, _run
from tests.support.sandbox import SandboxHandle

# Three weeks: enough business-day settlements inside the statement to plant every fault on its own.
# The data set's own clock is fixed (not the session's pinned one): whether a day happens to hold two
# clean captures of one amount (the twin settlements) depends on it, and the test needs them planted.
SANDBOX_ARGS = {"seed": 11, "days": 21, "payments_per_day": 60, "now": 1_796_020_200}  # 2026-11-30 12:00 IST
FORMATS = ("csv", "mt940", "camt053")


def _clear_bank_data(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = select(Mismatch.id).where(Mismatch.rule.in_(BANK_RULE_IDS))
        conn.execute(delete(MismatchEvent).where(MismatchEvent.mismatch_id.in_(ids)))
        conn.execute(delete(Mismatch).where(Mismatch.rule.in_(BANK_RULE_IDS)))
        conn.execute(delete(BankMatch))
        conn.execute(delete(BankStatementLine))
        conn.execute(delete(BankStatement))
        conn.execute(delete(Quarantine).where(Quarantine.entity == "bank_statement_line"))


def _expected(planted: list[dict[str, object]]) -> Counter[tuple[str, object]]:
    expected: Counter[tuple[str, object]] = Counter()
    for plant in planted:
        rule = str(plant["expect"])
        if rule in BANK_RULE_IDS:
            expected[(rule, plant.get("settlement_id"))] += int(str(plant.get("lines", 1)))
    return expected


@pytest.mark.slow(seconds=40)
@pytest.mark.timeout(1200)
def test_bank_statements_reconcile_as_planted(
    sandbox_factory: Callable[..., SandboxHandle], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(**SANDBOX_ARGS)
    now = datetime.fromtimestamp(sandbox.state()["now"], UTC)
    env = _env(database_url, sandbox)
    _run(["sync", "run", "--until", now.isoformat(), "--safety-lag", "0s"], env)
    manifest = sandbox.manifest()["bank_statement"]
    planted = manifest["planted"]
    kinds = {plant["kind"] for plant in planted}
    assert kinds == {
        "missing_credit",
        "short_credit",
        "duplicate_credit",
        "utr_typo",
        "same_amount_credits",
        "twin_settlements",
        "orphan_credit",
        "decoy_credit",
        "malformed_line",
    }
    expected = _expected(planted)
    assert {rule for rule, _ in expected} == BANK_RULE_IDS  # every bank rule has something to find
    typo = next(plant["settlement_id"] for plant in planted if plant["kind"] == "utr_typo")
    twins = next(plant["settlement_ids"] for plant in planted if plant["kind"] == "twin_settlements")

    for fmt in FORMATS:
        _clear_bank_data(engine)
        path = tmp_path / f"statement.{fmt}"
        _run(["sandbox", "statement", "--format", fmt, "--out", str(path), "--api", sandbox.base_url], env)
        output = _run(["sync", "statement", str(path), "--format", fmt], env)
        assert f"{manifest['lines'] - 1} line(s)" in output and "1 quarantined" in output, output

        reconcile(engine, now=now, rules=sorted(BANK_RULE_IDS))
        with engine.connect() as conn:
            rows = conn.execute(
                select(Mismatch.rule, Mismatch.settlement_id).where(
                    Mismatch.rule.in_(BANK_RULE_IDS), Mismatch.status == "open"
                )
            ).all()
            typo_match = conn.execute(
                select(BankMatch.rule, BankMatch.outcome).where(BankMatch.settlement_id == typo)
            ).all()
            twin_matches = conn.execute(
                select(BankMatch.settlement_id, BankMatch.line_id, BankMatch.rule, BankMatch.outcome).where(
                    BankMatch.settlement_id.in_(twins)
                )
            ).all()
            quarantined = conn.execute(
                select(func.count()).select_from(Quarantine).where(Quarantine.entity == "bank_statement_line")
            ).scalar_one()
            lines_before = conn.execute(select(func.count()).select_from(BankStatementLine)).scalar_one()
        found = Counter((row.rule, row.settlement_id) for row in rows)
        assert found == expected, f"{fmt}: flagged {found - expected}, missed {expected - found}"
        assert [tuple(row) for row in typo_match] == [("amount_date", "matched")], fmt
        # Two settlements of one amount on one day: each matched to its own credit by its UTR.
        assert sorted((row.settlement_id, row.rule, row.outcome) for row in twin_matches) == sorted(
            (twin, "utr", "matched") for twin in twins
        ), fmt
        assert len({row.line_id for row in twin_matches}) == 2, fmt
        assert quarantined == 1
        assert lines_before == manifest["lines"] - 1

        # Re-importing the same file changes nothing.
        again = _run(["sync", "statement", str(path), "--format", fmt], env)
        assert "already imported" in again
        with engine.connect() as conn:
            assert (
                conn.execute(select(func.count()).select_from(BankStatementLine)).scalar_one() == lines_before
            )
