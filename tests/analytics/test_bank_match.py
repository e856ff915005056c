"""Matching bank credits to settlements (pure rules), and the bank rules on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, func, select

from analytics.bank_match import (
    CreditLine,
    MatchRow,
    SettlementRef,
    iter_settlement_credits,
    match_credits,
    refresh_bank_matches,
    settlement_credits,
    statement_coverage,
)
from analytics.reconcile import BANK_RULE_IDS, reconcile
from data.models import BankStatementLine, Mismatch
from data.settings import Settings
from sync.statement_import import import_statement
from tests.support.factories import settlement, write

PATTERNS = ["RAZORPAY"]


def _s(sid: str, amount: int, day: date, utr: str | None = None) -> SettlementRef:
    return SettlementRef(sid, amount, "INR", utr if utr is not None else f"UTIBR{sid.upper()}", day)


def _c(line_id: int, amount: int, day: date, text: str) -> CreditLine:
    return CreditLine(line_id, day, amount, "INR", text.upper())


D1, D2, D3, D4, D5 = (
    date(2026, 11, 30),
    date(2026, 12, 1),
    date(2026, 12, 2),
    date(2026, 12, 3),
    date(2026, 12, 4),
)
# D1 is a Monday; the 0–3 business-day window of a settlement on D1 ends on Thursday D4.


def test_utr_in_the_narration_with_the_amount_equal_is_matched_by_the_utr_rule() -> None:
    rows = match_credits([_s("a", 500, D1)], [_c(1, 500, D2, "NEFT-UTIBRA-RAZORPAY")], PATTERNS)
    assert rows == [MatchRow(1, "a", "utr", "matched")]


def test_utr_found_but_amount_short_is_amount_differs_not_a_match() -> None:
    rows = match_credits([_s("a", 500, D1)], [_c(1, 480, D2, "UTIBRA")], PATTERNS)
    assert rows == [MatchRow(1, "a", "utr", "amount_differs")]


def test_utr_run_into_other_text_is_found_for_razorpay_looking_credits_only() -> None:
    settlements = [_s("a", 500, D1)]
    assert match_credits(settlements, [_c(1, 500, D2, "NEFTUTIBRAXX RAZORPAY")], PATTERNS) == [
        MatchRow(1, "a", "utr", "matched")
    ]
    assert match_credits(settlements, [_c(1, 500, D2, "NEFTUTIBRAXX ACME")], PATTERNS) == []


def test_one_credit_for_several_settlements_by_their_utrs_and_sum() -> None:
    settlements = [_s("a", 500, D1), _s("b", 700, D1)]
    rows = match_credits(settlements, [_c(1, 1200, D2, "UTIBRA UTIBRB")], PATTERNS)
    assert rows == [MatchRow(1, "a", "utr_sum", "matched"), MatchRow(1, "b", "utr_sum", "matched")]


def test_amount_and_date_when_exactly_one_candidate_within_three_business_days() -> None:
    settlements = [_s("a", 500, D1)]
    assert match_credits(settlements, [_c(1, 500, D4, "RAZORPAY PAYOUT")], PATTERNS) == [
        MatchRow(1, "a", "amount_date", "matched")
    ]
    # Friday is the 4th business day after Monday: outside the window.
    assert match_credits(settlements, [_c(1, 500, D5, "RAZORPAY PAYOUT")], PATTERNS) == []
    # Before the settlement day: never.
    assert match_credits([_s("a", 500, D2)], [_c(1, 500, D1, "RAZORPAY PAYOUT")], PATTERNS) == []


def test_two_same_amount_settlements_on_one_day_are_ambiguous_never_a_guess() -> None:
    settlements = [_s("a", 500, D1), _s("b", 500, D1)]
    rows = match_credits(settlements, [_c(1, 500, D2, "RAZORPAY PAYOUT")], PATTERNS)
    assert rows == [
        MatchRow(1, "a", "amount_date", "ambiguous"),
        MatchRow(1, "b", "amount_date", "ambiguous"),
    ]
    # With UTRs in the narrations both are matched, each to its own.
    rows = match_credits(
        settlements, [_c(1, 500, D2, "RAZORPAY UTIBRA"), _c(2, 500, D2, "RAZORPAY UTIBRB")], PATTERNS
    )
    assert rows == [MatchRow(1, "a", "utr", "matched"), MatchRow(2, "b", "utr", "matched")]


def test_a_customer_credit_of_the_same_amount_is_not_taken_for_a_settlement() -> None:
    assert match_credits([_s("a", 500, D1)], [_c(1, 500, D1, "IMPS-SUNRISE TRADERS")], PATTERNS) == []


def test_one_credit_equal_to_a_days_settlements_sum_without_utrs() -> None:
    settlements = [_s("a", 500, D1), _s("b", 700, D1), _s("c", 900, D2)]
    rows = match_credits(settlements, [_c(1, 1200, D2, "RAZORPAY PAYOUT")], PATTERNS)
    assert rows == [MatchRow(1, "a", "sum_date", "matched"), MatchRow(1, "b", "sum_date", "matched")]


HDFC_HEADER = (
    "HDFC BANK Ltd.\nAccount No :50200012345678\nStatement From : 30/11/26 To : 02/12/26\n\n"
    "Date     ,Narration,Value Dat,Debit Amount       ,Credit Amount      ,Chq/Ref Number   ,Closing Balance\n"
)


def _statement(*rows: str, header: str = HDFC_HEADER) -> bytes:
    return (header + "\n".join(rows) + "\n").encode()


def test_rules_on_the_database_and_coverage_decides_not_yet_known(engine: Engine) -> None:
    at = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)  # 10:00 IST on Monday 30 Nov
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            settlement("setl_ok", amount=150_000, utr="UTIBROK1", created_at=at),
            settlement("setl_short", amount=90_000, utr="UTIBRSHORT1", created_at=at),
            settlement("setl_twice", amount=70_000, utr="UTIBRTWICE1", created_at=at),
            settlement("setl_missing", amount=60_000, utr="UTIBRMISSING", created_at=at),
            # Processed on Wednesday: due Thursday, after the statement ends: not yet known.
            settlement("setl_later", amount=55_000, utr="UTIBRLATER", created_at=at.replace(day=2, month=12)),
        )
    body = _statement(
        "30/11/26,NEFT CR-RAZORPAY SOFTWARE-UTIBROK1,30/11/26,,1500.00,1,0",
        "30/11/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRSHORT1,30/11/26,,880.00,2,0",
        "01/12/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRTWICE1,01/12/26,,700.00,3,0",
        "01/12/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRTWICE1,01/12/26,,700.00,4,0",
        "02/12/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRNOBODY,02/12/26,,4321.00,5,0",
    )
    settings = Settings(bank_csv_preset="hdfc", bank_csv_columns={})
    imported = import_statement(engine, body, file_name="dec.csv", settings=settings, now=at)
    assert (imported.lines, imported.new_lines, imported.quarantined) == (5, 5, 0)
    now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    reconcile(engine, now=now, rules=sorted(BANK_RULE_IDS))
    with engine.connect() as conn:
        found = sorted(
            (row.rule, row.settlement_id, row.expected_amount, row.actual_amount)
            for row in conn.execute(select(Mismatch).where(Mismatch.status == "open"))
        )
    assert found == [
        ("bank_credit_amount_differs", "setl_short", 90_000, 88_000),
        ("bank_credit_without_settlement", None, None, 432_100),
        ("settlement_credited_twice", "setl_twice", 70_000, 140_000),
        ("settlement_not_credited", "setl_missing", 60_000, 0),
    ]
    assert statement_coverage(engine) == {"INR": [(date(2026, 11, 30), date(2026, 12, 2))]}
    statuses = {row["settlement_id"]: row["status"] for row in settlement_credits(engine, now=now)}
    assert statuses == {
        "setl_ok": "credited",
        "setl_short": "short",
        "setl_twice": "credited_twice",
        "setl_missing": "not_credited",
        "setl_later": "not_yet_known",
    }
    credited = next(row for row in settlement_credits(engine, now=now) if row["settlement_id"] == "setl_ok")
    assert (credited["credited_on"], credited["bank_line"], credited["match_rule"]) == (
        date(2026, 11, 30),
        "dec.csv:6",
        "utr",
    )

    # Re-importing the file changes nothing; an overlapping statement adds only its new lines.
    assert import_statement(engine, body, file_name="dec.csv", settings=settings, now=now).already_imported
    overlap = _statement(
        "02/12/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRNOBODY,02/12/26,,4321.00,5,0",
        "03/12/26,NEFT CR-RAZORPAY SOFTWARE-UTIBRMISSING,03/12/26,,600.00,6,0",
        header=HDFC_HEADER.replace("30/11/26 To : 02/12/26", "02/12/26 To : 03/12/26"),
    )
    second = import_statement(engine, overlap, file_name="dec2.csv", settings=settings, now=now)
    assert (second.lines, second.new_lines) == (2, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BankStatementLine)).scalar_one() == 6
    # The late credit arrives: the missing settlement's mismatch auto-resolves on the next reconcile.
    assert refresh_bank_matches(engine, now=now, patterns=PATTERNS) == 5  # ok, short, twice ×2, missing
    result = reconcile(engine, now=now, rules=sorted(BANK_RULE_IDS))
    assert result.auto_resolved == 1


def test_settlement_credits_page_through_every_processed_settlement(engine: Engine) -> None:
    """Read in keyset pages (here 2 at a time), ties on created_at included: every processed settlement
    once, newest first, and `limit` stops after the first of them (issue 12: no silent cap)."""
    at = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    later = at.replace(hour=12)
    with engine.begin() as conn:
        write(
            conn,
            "settlements",
            *(settlement(f"setl_tie{n}", amount=1_000, created_at=at) for n in range(3)),
            *(settlement(f"setl_late{n}", amount=1_000, created_at=later) for n in range(2)),
            settlement("setl_waiting", amount=1_000, status="created", created_at=later),
        )
    now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    paged = [row["settlement_id"] for row in iter_settlement_credits(engine, now=now, chunk=2)]
    assert paged == ["setl_late1", "setl_late0", "setl_tie2", "setl_tie1", "setl_tie0"]
    assert [row["settlement_id"] for row in settlement_credits(engine, now=now)] == paged
    assert [row["settlement_id"] for row in settlement_credits(engine, now=now, limit=3)] == paged[:3]
