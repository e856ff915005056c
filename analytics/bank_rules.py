"""The bank-statement reconciliation rules: they read bank_matches (analytics/bank_match.py) and the
statements' coverage. Registered in analytics.rules.RULES (import them through analytics.rules)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select

from analytics.bank_match import (
    CREDIT_DUE_BUSINESS_DAYS,
    add_business_days,
    covered,
    matches_by_settlement,
    statement_coverage,
)
from analytics.db import as_int
from analytics.rules import RULES, Finding, Rule, RuleContext, format_amount
from data.ist import ist_day_of
from data.models import BankMatch, BankStatementLine, Settlement
from data.settings import get_settings

__all__ = ["BANK_RULES"]

_S: Table = Settlement.__table__  # type: ignore[assignment]
_BL: Table = BankStatementLine.__table__  # type: ignore[assignment]
_BM: Table = BankMatch.__table__  # type: ignore[assignment]
_CHUNK = 1000


def _line_evidence(row: Mapping[str, Any]) -> dict[str, Any]:
    narration = row.get("narration") or ""
    return {
        "line_key": row["line_key"],
        "file_name": row["file_name"],
        "line_number": row["line_number"],
        "value_date": row["value_date"].isoformat(),
        "amount": int(row["amount"]),
        "currency": row["currency"],
        "reference": row.get("reference"),
        "narration": narration[:160],
    }


def _settlement_info(conn: Connection, ids: Iterable[str]) -> dict[str, Any]:
    wanted = sorted(set(ids))
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(_S.c.id, _S.c.amount, _S.c.currency, _S.c.utr, _S.c.created_at).where(
            _S.c.id.in_(wanted[start : start + _CHUNK])
        )
        found.update((row.id, row) for row in conn.execute(query))
    return found


def _settlement_not_credited(conn: Connection, ctx: RuleContext) -> list[Finding]:
    today = ist_day_of(ctx.now)
    coverage = statement_coverage(conn)
    if not coverage:
        return []
    has_match = select(_BM.c.settlement_id).where(_BM.c.settlement_id == _S.c.id).exists()
    query = select(_S.c.id, _S.c.amount, _S.c.currency, _S.c.utr, _S.c.created_at).where(
        _S.c.status == "processed", _S.c.amount > 0, _S.c.currency.in_(list(coverage)), ~has_match
    )
    findings = []
    for row in conn.execute(query):
        day = ist_day_of(row.created_at)
        due = add_business_days(day, CREDIT_DUE_BUSINESS_DAYS)
        ranges = coverage[row.currency]
        if not (due < today and covered(ranges, day, due)):
            continue  # not due yet, or the statements do not cover those days: not yet known
        findings.append(
            Finding(
                rule="settlement_not_credited",
                subject=row.id,
                settlement_id=row.id,
                currency=row.currency,
                expected_amount=int(row.amount),
                actual_amount=0,
                detail=(
                    f"Settlement {row.id} (UTR {row.utr or '—'}, {format_amount(row.amount, row.currency)}) "
                    f"processed {day.isoformat()} has no credit in the bank statements, which cover "
                    f"{day.isoformat()} to {due.isoformat()} (due by T+{CREDIT_DUE_BUSINESS_DAYS} business day)."
                ),
                evidence={
                    "settlement_id": row.id,
                    "utr": row.utr,
                    "amount": int(row.amount),
                    "currency": row.currency,
                    "processed_on": day.isoformat(),
                    "due_by": due.isoformat(),
                    "coverage": [[start.isoformat(), end.isoformat()] for start, end in ranges],
                },
            )
        )
    return findings


def _line_matches(conn: Connection, outcome: str) -> dict[int, list[dict[str, Any]]]:
    query = (
        select(
            _BM.c.line_id,
            _BM.c.settlement_id,
            _BM.c.rule,
            _BL.c.line_key,
            _BL.c.file_name,
            _BL.c.line_number,
            _BL.c.value_date,
            _BL.c.amount,
            _BL.c.currency,
            _BL.c.reference,
            _BL.c.narration,
        )
        .join(_BL, _BL.c.id == _BM.c.line_id)
        .where(_BM.c.outcome == outcome)
        .order_by(_BM.c.line_id, _BM.c.settlement_id)
    )
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(query):
        grouped[row.line_id].append(dict(row._mapping))
    return grouped


def _credits_by_outcome(
    conn: Connection, outcome: str
) -> tuple[list[tuple[dict[str, Any], list[str]]], dict[str, Any]]:
    """Each credit matched with `outcome` (its line, the settlement ids) and those settlements' rows."""
    grouped = _line_matches(conn, outcome)
    info = _settlement_info(conn, (m["settlement_id"] for rows in grouped.values() for m in rows))
    return [(rows[0], [m["settlement_id"] for m in rows]) for rows in grouped.values()], info


def _credit_finding(rule: str, line: dict[str, Any], ids: list[str], said: str, **fields: Any) -> Finding:
    """A finding about one bank credit: "Bank credit <file> line <n> (<date>) of <amount> <said>"."""
    return Finding(
        rule=rule,
        subject=line["line_key"],
        settlement_id=ids[0],
        currency=line["currency"],
        detail=(
            f"Bank credit {line['file_name']} line {line['line_number']} ({line['value_date']}) of "
            f"{format_amount(int(line['amount']), line['currency'])} {said}"
        ),
        **fields,
    )


def _credit_amount_differs(conn: Connection, ctx: RuleContext) -> list[Finding]:
    credits, info = _credits_by_outcome(conn, "amount_differs")
    findings = []
    for line, ids in credits:
        expected = sum(int(info[sid].amount) for sid in ids)
        credited = int(line["amount"])
        findings.append(
            _credit_finding(
                "bank_credit_amount_differs",
                line,
                ids,
                f"carries the UTR of settlement {', '.join(ids)} ({format_amount(expected, line['currency'])}); "
                f"difference {format_amount(credited - expected, line['currency'])}.",
                expected_amount=expected,
                actual_amount=credited,
                evidence={
                    "line": _line_evidence(line),
                    "settlements": [
                        {"settlement_id": sid, "utr": info[sid].utr, "amount": int(info[sid].amount)}
                        for sid in ids
                    ],
                    "expected": expected,
                    "credited": credited,
                    "difference": credited - expected,
                },
            )
        )
    return findings


def _credit_without_settlement(conn: Connection, ctx: RuleContext) -> list[Finding]:
    patterns = [p.upper() for p in get_settings().bank_razorpay_patterns if p]
    if not patterns:
        return []
    text = func.upper(func.coalesce(_BL.c.narration, "") + " " + func.coalesce(_BL.c.reference, ""))
    has_match = select(_BM.c.line_id).where(_BM.c.line_id == _BL.c.id).exists()
    query = select(
        _BL.c.id,
        _BL.c.line_key,
        _BL.c.file_name,
        _BL.c.line_number,
        _BL.c.value_date,
        _BL.c.amount,
        _BL.c.currency,
        _BL.c.reference,
        _BL.c.narration,
    ).where(
        _BL.c.direction == "credit", ~has_match, or_(*[text.contains(p, autoescape=True) for p in patterns])
    )
    findings = []
    for row in conn.execute(query):
        line = dict(row._mapping)
        findings.append(
            Finding(
                rule="bank_credit_without_settlement",
                subject=row.line_key,
                currency=row.currency,
                expected_amount=None,
                actual_amount=int(row.amount),
                detail=(
                    f"Bank credit {row.file_name} line {row.line_number} ({row.value_date}) of "
                    f"{format_amount(row.amount, row.currency)} looks like a Razorpay payout but matches no "
                    "processed settlement (no UTR, no settlement of that amount within 3 business days)."
                ),
                evidence={"line": _line_evidence(line)},
            )
        )
    return findings


def _settlement_credited_twice(conn: Connection, ctx: RuleContext) -> list[Finding]:
    twice = (
        select(_BM.c.settlement_id)
        .where(_BM.c.outcome.in_(("matched", "amount_differs")))
        .group_by(_BM.c.settlement_id)
        .having(func.count(func.distinct(_BM.c.line_id)) > 1)
    )
    ids = [sid for (sid,) in conn.execute(twice)]
    if not ids:
        return []
    info = _settlement_info(conn, ids)
    grouped = matches_by_settlement(conn, ids)
    findings = []
    for sid in ids:
        settlement = info.get(sid)
        if settlement is None:
            continue
        lines = [m for m in grouped[sid] if m["outcome"] != "ambiguous"]
        total = sum(as_int(m["amount"]) for m in lines)
        findings.append(
            Finding(
                rule="settlement_credited_twice",
                subject=sid,
                settlement_id=sid,
                currency=settlement.currency,
                expected_amount=int(settlement.amount),
                actual_amount=total,
                detail=(
                    f"Settlement {sid} (UTR {settlement.utr or '—'}, "
                    f"{format_amount(settlement.amount, settlement.currency)}) is credited {len(lines)} times: "
                    + "; ".join(
                        f"{m['file_name']} line {m['line_number']} ({m['value_date']}, "
                        f"{format_amount(m['amount'], m['currency'])})"
                        for m in lines
                    )
                    + "."
                ),
                evidence={
                    "settlement_id": sid,
                    "utr": settlement.utr,
                    "amount": int(settlement.amount),
                    "credited_total": total,
                    "lines": [_line_evidence(m) | {"match_rule": m["rule"]} for m in lines],
                },
            )
        )
    return findings


def _credit_ambiguous(conn: Connection, ctx: RuleContext) -> list[Finding]:
    credits, info = _credits_by_outcome(conn, "ambiguous")
    findings = []
    for line, ids in credits:
        findings.append(
            _credit_finding(
                "bank_credit_ambiguous",
                line,
                ids,
                f"carries no UTR and fits {len(ids)} settlements ({', '.join(ids)}) or another credit fits "
                "the same one: not matched by guess.",
                expected_amount=None,
                actual_amount=int(line["amount"]),
                evidence={
                    "line": _line_evidence(line),
                    "match_rule": line["rule"],
                    "candidates": [
                        {
                            "settlement_id": sid,
                            "utr": info[sid].utr,
                            "amount": int(info[sid].amount),
                            "processed_on": ist_day_of(info[sid].created_at).isoformat(),
                        }
                        for sid in ids
                        if sid in info
                    ],
                },
            )
        )
    return findings


BANK_RULES: list[Rule] = [
    Rule(
        id="settlement_not_credited",
        severity="critical",
        title="Settlement not credited to the bank",
        explanation_template=(
            "A processed settlement has no credit in the imported bank statements by the end of T+1 business "
            "day, on days the statements cover (outside coverage it is not yet known, not a break)."
        ),
        usual_cause=(
            "The payout bounced (closed or changed bank account, IFSC mismatch), it went to another account "
            "of the merchant, or the credit's narration lost the UTR and its amount matches nothing."
        ),
        detect=_settlement_not_credited,
    ),
    Rule(
        id="bank_credit_amount_differs",
        severity="high",
        title="Bank credit differs from its settlement",
        explanation_template="A bank credit carries a settlement's UTR but its amount differs from the settlement amount.",
        usual_cause=(
            "Bank charges deducted on an inward transfer, a split payout, or a reversal netted into the credit."
        ),
        detect=_credit_amount_differs,
    ),
    Rule(
        id="bank_credit_without_settlement",
        severity="medium",
        title="Razorpay-looking credit with no settlement",
        explanation_template="A bank credit whose narration looks like Razorpay matches no processed settlement.",
        usual_cause=(
            "The settlement is not synced yet, it belongs to another Razorpay account of the merchant, or it is "
            "a refund reversal or a manual payout from Razorpay support."
        ),
        detect=_credit_without_settlement,
    ),
    Rule(
        id="settlement_credited_twice",
        severity="critical",
        title="Settlement credited twice",
        explanation_template="More than one bank credit is matched to the same settlement.",
        usual_cause=(
            "A payout retried after a timeout and paid twice (Razorpay will debit one back), or the same "
            "statement lines imported from two differently-formatted exports of one account."
        ),
        detect=_settlement_credited_twice,
    ),
    Rule(
        id="bank_credit_ambiguous",
        severity="medium",
        title="Bank credit matches more than one settlement",
        explanation_template=(
            "A Razorpay-looking credit without a UTR equals several settlements in amount within 3 business "
            "days (or a settlement fits several credits); payops does not guess which."
        ),
        usual_cause="Two payouts of the same amount close together, with narrations that dropped the UTR.",
        detect=_credit_ambiguous,
    ),
]

RULES.update((rule.id, rule) for rule in BANK_RULES)
