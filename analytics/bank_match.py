"""Bank statement lines matched to settlements, and the reconciliation rules that read the matches.

Matching, in order, each match recording the rule that made it:
1. `utr`: a settlement's UTR appears in a credit's reference or narration. Amount equal: matched;
   otherwise amount_differs (the UTR says which settlement it is, the amount says it is short).
   `utr_sum`: several UTRs in one credit, matched when the credit equals their sum.
2. `amount_date`: a Razorpay-looking credit (narration pattern) with no UTR hit, equal in amount to
   exactly one not-yet-credited settlement dated 0–3 business days before the credit, and that
   settlement has no other such candidate. Two or more candidates: ambiguous, never a guess.
3. `sum_date`: a Razorpay-looking credit equal to the sum of all not-yet-credited settlements of one
   day (two or more) within the same window, when exactly one day fits.

`refresh_bank_matches` recomputes every match (one pass in Python over the credits, a dict lookup per
token) and replaces the bank_matches table; `analytics.reconcile` calls it before the rules run.
The rules that read the matches are in analytics/bank_rules.py.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Connection, String, Table, delete, func, insert, select, type_coerce

from analytics.db import Db, reading, utcnow, writing
from data.ist import ist_day_of
from data.models import BankMatch, BankStatement, BankStatementLine, Settlement
from data.settings import get_settings

__all__ = [
    "CREDIT_DUE_BUSINESS_DAYS",
    "MATCH_WINDOW_BUSINESS_DAYS",
    "CreditLine",
    "MatchRow",
    "SettlementRef",
    "add_business_days",
    "covered",
    "credit_status",
    "iter_settlement_credits",
    "match_credits",
    "matches_by_settlement",
    "processed_settlements_query",
    "refresh_bank_matches",
    "settlement_credits",
    "statement_coverage",
]

_S: Table = Settlement.__table__  # type: ignore[assignment]
_BL: Table = BankStatementLine.__table__  # type: ignore[assignment]
_BM: Table = BankMatch.__table__  # type: ignore[assignment]
_BS: Table = BankStatement.__table__  # type: ignore[assignment]

MATCH_WINDOW_BUSINESS_DAYS = 3
# A processed settlement is due in the bank by the end of T+1 business day.
CREDIT_DUE_BUSINESS_DAYS = 1
_TOKEN = re.compile(r"[A-Z0-9]+")
_CHUNK = 1000


@dataclass(frozen=True)
class SettlementRef:
    id: str
    amount: int
    currency: str
    utr: str | None
    day: date  # IST day the settlement was processed


class CreditLine(NamedTuple):
    # A tuple, not a dataclass: a year of statement credits is ~100k of them, built on every reconcile.
    id: int
    value_date: date
    amount: int
    currency: str
    text: str  # reference + narration, upper-case


@dataclass(frozen=True)
class MatchRow:
    line_id: int
    settlement_id: str
    rule: str
    outcome: str  # matched | amount_differs | ambiguous


def _looks_like_razorpay(text: str, patterns: Sequence[str]) -> bool:
    return any(pattern in text for pattern in patterns)


def _utr_hits(
    text: str, utrs: Mapping[str, SettlementRef], lengths: Sequence[int], embedded: bool
) -> list[str]:
    """Settlement ids whose UTR is a token of the text; for Razorpay-looking credits also a UTR run
    into other characters ("NEFTUTIBR…"), which costs a scan of each long token."""
    found: dict[str, None] = {}
    for token in _TOKEN.findall(text):
        hit = utrs.get(token)
        if hit is not None:
            found[hit.id] = None
            continue
        if embedded:
            for length in lengths:
                for start in range(len(token) - length + 1):
                    hit = utrs.get(token[start : start + length])
                    if hit is not None:
                        found[hit.id] = None
    return list(found)


@lru_cache(maxsize=4096)
def add_business_days(day: date, days: int) -> date:
    # analytics.rules registers the bank rules (analytics/bank_rules.py), which import this module, so
    # this module cannot import analytics.rules at load time; the calendar is the same one.
    from analytics.rules import add_business_days as rules_add_business_days

    return rules_add_business_days(day, days)


@lru_cache(maxsize=4096)
def _window_days(value_date: date) -> tuple[date, ...]:
    """Settlement days d with value_date ∈ [d, d + 3 business days]."""
    days = []
    day = value_date
    while add_business_days(day, MATCH_WINDOW_BUSINESS_DAYS) >= value_date:
        days.append(day)
        day -= timedelta(days=1)
    return tuple(days)


def match_credits(
    settlements: Sequence[SettlementRef], credits: Sequence[CreditLine], patterns: Sequence[str]
) -> list[MatchRow]:
    """The matching rules (module docstring) over plain values; pure, so tests and the benchmark call it."""
    upper_patterns = [pattern.upper() for pattern in patterns if pattern]
    by_id = {s.id: s for s in settlements}
    utrs = {s.utr.upper(): s for s in settlements if s.utr}
    lengths = sorted({len(utr) for utr in utrs})
    rows: list[MatchRow] = []
    credited: set[str] = set()
    leftover: list[CreditLine] = []

    for credit in credits:
        razorpay_like = _looks_like_razorpay(credit.text, upper_patterns)
        hits = [
            sid
            for sid in _utr_hits(credit.text, utrs, lengths, razorpay_like)
            if by_id[sid].currency == credit.currency
        ]
        if not hits:
            if razorpay_like:
                leftover.append(credit)
            continue
        total = sum(by_id[sid].amount for sid in hits)
        rule = "utr" if len(hits) == 1 else "utr_sum"
        outcome = "matched" if total == credit.amount else "amount_differs"
        rows.extend(MatchRow(credit.id, sid, rule, outcome) for sid in hits)
        credited.update(hits)

    # Amount and date, both ways unique.
    by_amount: dict[tuple[str, int], list[SettlementRef]] = defaultdict(list)
    for s in settlements:
        if s.id not in credited:
            by_amount[(s.currency, s.amount)].append(s)
    candidates: dict[int, list[str]] = {}
    lines_of: dict[str, list[int]] = defaultdict(list)
    for credit in leftover:
        window = set(_window_days(credit.value_date))
        found = [s.id for s in by_amount.get((credit.currency, credit.amount), ()) if s.day in window]
        if found:
            candidates[credit.id] = found
            for sid in found:
                lines_of[sid].append(credit.id)
    for line_id, found in candidates.items():
        if len(found) == 1 and len(lines_of[found[0]]) == 1:
            rows.append(MatchRow(line_id, found[0], "amount_date", "matched"))
            credited.add(found[0])
        else:
            rows.extend(MatchRow(line_id, sid, "amount_date", "ambiguous") for sid in found)
    ambiguous_settlements = {sid for line_id, found in candidates.items() for sid in found if line_id}

    # Sum of one day's remaining settlements.
    by_day: dict[tuple[str, date], list[SettlementRef]] = defaultdict(list)
    for s in settlements:
        if s.id not in credited and s.id not in ambiguous_settlements:
            by_day[(s.currency, s.day)].append(s)
    for credit in leftover:
        if credit.id in candidates:
            continue
        fits = [
            group
            for day in _window_days(credit.value_date)
            if len(group := by_day.get((credit.currency, day), [])) >= 2
            and sum(s.amount for s in group) == credit.amount
        ]
        if len(fits) == 1:
            rows.extend(MatchRow(credit.id, s.id, "sum_date", "matched") for s in fits[0])
            for s in fits[0]:
                credited.add(s.id)
            by_day.pop((credit.currency, fits[0][0].day), None)
        elif len(fits) > 1:
            rows.extend(MatchRow(credit.id, s.id, "sum_date", "ambiguous") for group in fits for s in group)
    return rows


def _settlement_refs(conn: Connection) -> list[SettlementRef]:
    query = select(_S.c.id, _S.c.amount, _S.c.currency, _S.c.utr, _S.c.created_at).where(
        _S.c.status == "processed", _S.c.amount > 0
    )
    return [
        SettlementRef(row.id, int(row.amount), row.currency, row.utr, ist_day_of(row.created_at))
        for row in conn.execute(query)
    ]


def _credit_lines(conn: Connection) -> list[CreditLine]:
    # The text is put together and upper-cased by the database, and the date read as its ISO text
    # (type_coerce skips SQLAlchemy's per-row date parsing on SQLite): reading the credits is most of
    # the cost of a refresh.
    text = func.upper(func.coalesce(_BL.c.reference, "") + " " + func.coalesce(_BL.c.narration, ""))
    query = select(_BL.c.id, type_coerce(_BL.c.value_date, String), _BL.c.amount, _BL.c.currency, text).where(
        _BL.c.direction == "credit"
    )
    parse = date.fromisoformat
    return [
        CreditLine(line_id, day if isinstance(day, date) else parse(day[:10]), amount, currency, line_text)
        for line_id, day, amount, currency, line_text in conn.execute(query)
    ]


def refresh_bank_matches(
    db: Db, *, now: datetime | None = None, patterns: Sequence[str] | None = None
) -> int:
    """Recompute every statement-line match and replace bank_matches (one transaction). Returns the rows."""
    now = now or utcnow()
    chosen = list(patterns) if patterns is not None else get_settings().bank_razorpay_patterns
    with writing(db) as conn:
        rows = match_credits(_settlement_refs(conn), _credit_lines(conn), chosen)
        conn.execute(delete(_BM))
        values = [
            {
                "line_id": r.line_id,
                "settlement_id": r.settlement_id,
                "rule": r.rule,
                "outcome": r.outcome,
                "matched_at": now,
            }
            for r in rows
        ]
        for start in range(0, len(values), _CHUNK):
            conn.execute(insert(_BM), values[start : start + _CHUNK])
    return len(rows)


# --- coverage -----------------------------------------------------------------------------------------


def statement_coverage(db: Db) -> dict[str, list[tuple[date, date]]]:
    """Per currency, the days the imported statements cover, as merged [first, last] ranges."""
    with reading(db) as conn:
        spans = [
            (row.currency, row.period_start, row.period_end)
            for row in conn.execute(select(_BS.c.currency, _BS.c.period_start, _BS.c.period_end))
        ]
    merged: dict[str, list[tuple[date, date]]] = {}
    for currency, start, end in sorted(spans):
        ranges = merged.setdefault(currency, [])
        if ranges and start <= ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    return merged


def covered(ranges: Iterable[tuple[date, date]], first: date, last: date) -> bool:
    return any(start <= first and last <= end for start, end in ranges)


# --- per settlement, for the page and the rules --------------------------------------------------------


def credit_status(
    *,
    matches: Sequence[Mapping[str, Any]],
    day: date,
    today: date,
    coverage: Sequence[tuple[date, date]],
) -> str:
    """credited | short | credited_twice | ambiguous | not_credited | not_yet_known for one settlement."""
    lines = {m["line_id"] for m in matches if m["outcome"] in ("matched", "amount_differs")}
    if len(lines) > 1:
        return "credited_twice"
    if any(m["outcome"] == "amount_differs" for m in matches):
        return "short"
    if lines:
        return "credited"
    if matches:
        return "ambiguous"
    due = add_business_days(day, CREDIT_DUE_BUSINESS_DAYS)
    if due < today and covered(coverage, day, due):
        return "not_credited"
    return "not_yet_known"


def matches_by_settlement(
    conn: Connection, settlement_ids: Sequence[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    query = (
        select(
            _BM.c.settlement_id,
            _BM.c.rule,
            _BM.c.outcome,
            _BM.c.line_id,
            _BL.c.line_key,
            _BL.c.value_date,
            _BL.c.amount,
            _BL.c.currency,
            _BL.c.file_name,
            _BL.c.line_number,
            _BL.c.reference,
            _BL.c.narration,
        )
        .join(_BL, _BL.c.id == _BM.c.line_id)
        .order_by(_BM.c.settlement_id, _BL.c.value_date, _BL.c.id)
    )
    if settlement_ids is not None:
        query = query.where(_BM.c.settlement_id.in_(list(settlement_ids)))
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(query):
        grouped[row.settlement_id].append(dict(row._mapping))
    return grouped


def processed_settlements_query() -> Any:
    """Every processed settlement, newest first: the rows `settlement_credits` reports on."""
    return (
        select(_S.c.id, _S.c.amount, _S.c.currency, _S.c.utr, _S.c.created_at, _S.c.status)
        .where(_S.c.status == "processed")
        .order_by(_S.c.created_at.desc(), _S.c.id.desc())
    )


def _credit_row(
    s: Any, found: list[dict[str, Any]], today: date, coverage: list[tuple[date, date]]
) -> dict[str, Any]:
    credited = [m for m in found if m["outcome"] != "ambiguous"]
    status = (
        credit_status(matches=found, day=ist_day_of(s.created_at), today=today, coverage=coverage)
        if s.amount > 0
        else "no_credit_due"
    )
    first = credited[0] if credited else None
    return {
        "settlement_id": s.id,
        "utr": s.utr,
        "amount": int(s.amount),
        "currency": s.currency,
        "processed_at": s.created_at,
        "status": status,
        "credited_on": first["value_date"] if first else None,
        "credited_amount": sum(int(m["amount"]) for m in {m["line_id"]: m for m in credited}.values())
        if credited
        else None,
        "bank_line": f"{first['file_name']}:{first['line_number']}" if first else None,
        "match_rule": first["rule"] if first else None,
    }


def iter_settlement_credits(db: Db, *, now: datetime, chunk: int = _CHUNK) -> Iterator[dict[str, Any]]:
    """Every processed settlement (newest first): processed → credited, with status. Read `chunk`
    settlements at a time (keyset pages on created_at, id), each with its matches, so memory stays flat
    however many there are and a caller that stops early reads no more."""
    today = ist_day_of(now)
    with reading(db) as conn:
        coverage = statement_coverage(conn)
    after: tuple[datetime, str] | None = None
    while True:
        page = processed_settlements_query().limit(chunk)
        if after is not None:
            page = page.where(
                (_S.c.created_at < after[0]) | ((_S.c.created_at == after[0]) & (_S.c.id < after[1]))
            )
        with reading(db) as conn:
            settlements = conn.execute(page).all()
            matches = matches_by_settlement(conn, [s.id for s in settlements]) if settlements else {}
        for s in settlements:
            yield _credit_row(s, matches.get(s.id, []), today, coverage.get(s.currency, []))
        if len(settlements) < chunk:
            return
        after = (settlements[-1].created_at, settlements[-1].id)


def settlement_credits(db: Db, *, now: datetime, limit: int | None = None) -> list[dict[str, Any]]:
    """Every processed settlement (newest first), or the first `limit` of them: processed → credited,
    with status. `count_rows(db, processed_settlements_query())` says how many there are."""
    credits = iter_settlement_credits(db, now=now, chunk=min(limit, _CHUNK) if limit else _CHUNK)
    return list(credits if limit is None else islice(credits, limit))
