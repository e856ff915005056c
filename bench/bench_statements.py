"""Benchmark bank matching: a year of statement lines (200k, most not Razorpay's) against two years of
daily settlements, as `refresh_bank_matches` runs it inside reconcile (read, match, replace the
matches), plus the pure matching step alone and, in the same run, the naive way (every settlement's
UTR searched in every line) timed on a sample and scaled.

    .venv/bin/python -m bench.bench_statements --backend sqlite
    .venv/bin/python -m bench.bench_statements --backend postgresql --lines 200000

Prints figures; never run by pytest.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

import analytics.rules  # noqa: F401 - loaded as in reconcile, so no run pays for the import
from analytics.bank_match import (
    _credit_lines,
    _settlement_refs,
    match_credits,
    refresh_bank_matches,
)
from data.db import make_engine
from data.migrate import upgrade
from data.models import BankMatch, BankStatement, BankStatementLine, Settlement
from tests.support.databases import drop_database, new_database_url

PATTERNS = ["RAZORPAY", "RZP"]
LAST_DAY = date(2026, 11, 30)


def seed(engine: Engine, lines: int, settlement_days: int) -> int:
    """Two years of business-day settlements; a year of statement lines, one credit per settlement of
    that year (a few short, missing or without UTR), the rest customers' and vendors' traffic."""
    rng = random.Random(7)
    settlements: list[dict[str, Any]] = []
    day = LAST_DAY - timedelta(days=settlement_days)
    while day <= LAST_DAY:
        if day.weekday() < 5:
            at = datetime(day.year, day.month, day.day, 4, 30, tzinfo=UTC)
            sid = f"setl_{len(settlements):010d}"
            settlements.append(
                {
                    "id": sid,
                    "amount": rng.randint(1_000_00, 50_000_000),
                    "currency": "INR",
                    "status": "processed",
                    "fees": 0,
                    "tax": 0,
                    "utr": f"UTIBR{day:%y%m%d}{rng.randrange(16**8):08X}",
                    "created_at": at,
                    "state_at": at,
                    "source": "api",
                    "raw": {},
                }
            )
        day += timedelta(days=1)
    first_statement_day = LAST_DAY - timedelta(days=364)
    statement_lines: list[dict[str, Any]] = []
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def line(value_date: date, direction: str, amount: int, narration: str) -> None:
        n = len(statement_lines)
        statement_lines.append(
            {
                "line_key": f"{n:064d}",
                "file_sha256": "f" * 64,
                "file_name": "year.csv",
                "line_number": n + 7,
                "account": "XXXX5678",
                "value_date": value_date,
                "booking_date": value_date,
                "direction": direction,
                "amount": amount,
                "currency": "INR",
                "reference": f"{rng.randrange(10**16):016d}",
                "narration": narration,
                "balance": None,
                "raw": narration,
                "imported_at": now,
            }
        )

    for index, s in enumerate(settlements):
        settled_on = s["created_at"].date()
        if settled_on < first_statement_day:
            continue
        if index % 97 == 0:
            continue  # missing
        amount = s["amount"] - (1180 if index % 89 == 0 else 0)
        narration = (
            "NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PVT LTD"
            if index % 83 == 0
            else f"NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PRIVATE LIMITED-{s['utr']}"
        )
        line(settled_on, "credit", amount, narration)
    templates = (
        "UPI/CR/{r}/ANIL KUMAR/OKSBI/PAYMENT",
        "IMPS-{r}-SUNRISE TRADERS-INVOICE 2231",
        "NEFT DR-ICIC0000104-ACME PACKAGING-{r}",
        "POS 4591XXXXXX1234 AMAZON WEB SERVICES",
        "ACH D- TP ACH BAJAJFIN-{r}",
    )
    while len(statement_lines) < lines:
        value_date = first_statement_day + timedelta(days=rng.randrange(365))
        template = templates[rng.randrange(len(templates))]
        direction = "credit" if template.startswith(("UPI/CR", "IMPS")) else "debit"
        line(value_date, direction, rng.randint(100_00, 5_000_000), template.format(r=rng.randrange(10**12)))
    with engine.begin() as conn:
        conn.execute(insert(Settlement), settlements)
        conn.execute(
            insert(BankStatement),
            [
                {
                    "file_sha256": "f" * 64,
                    "file_name": "year.csv",
                    "format": "csv",
                    "preset": "hdfc",
                    "account": "XXXX5678",
                    "currency": "INR",
                    "period_start": first_statement_day,
                    "period_end": LAST_DAY,
                    "line_count": len(statement_lines),
                    "quarantined": 0,
                    "imported_at": now,
                    "imported_by": "bench",
                }
            ],
        )
        for start in range(0, len(statement_lines), 5000):
            conn.execute(insert(BankStatementLine), statement_lines[start : start + 5000])
    return len(settlements)


def naive_seconds(settlements: list[Any], credits: list[Any], sample: int) -> float:
    """The naive matcher: every settlement's UTR searched in every credit's text, then amounts compared."""
    chosen = credits[:sample]
    started = time.perf_counter()
    for credit in chosen:
        for s in settlements:
            if s.utr and s.utr in credit.text and s.amount == credit.amount:
                break
    elapsed = time.perf_counter() - started
    return elapsed * len(credits) / max(1, len(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--settlement-days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="bench-statements-"))
    url = new_database_url(args.backend, directory)
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        n_settlements = seed(engine, args.lines, args.settlement_days)
        print(
            f"seeded {args.lines:,} statement lines and {n_settlements:,} settlements in {time.perf_counter() - started:.1f} s"
        )
        with engine.connect() as conn:
            settlements = _settlement_refs(conn)
            credits = _credit_lines(conn)
        print(f"{len(credits):,} of the lines are credits")
        pure = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            rows = match_credits(settlements, credits, PATTERNS)
            pure.append(time.perf_counter() - started)
        full = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            refresh_bank_matches(engine, patterns=PATTERNS)
            full.append(time.perf_counter() - started)
        with engine.connect() as conn:
            stored = conn.execute(select(BankMatch.rule, func.count()).group_by(BankMatch.rule)).all()
        naive = naive_seconds(settlements, credits, sample=2000)
        print(f"matches: {len(rows):,} rows ({', '.join(f'{rule} {count:,}' for rule, count in stored)})")
        print(f"match_credits alone (best of {args.repeat}): {min(pure):.2f} s")
        print(
            f"refresh_bank_matches, read + match + replace (best of {args.repeat}): {min(full):.2f} s "
            f"(all runs: {', '.join(f'{t:.2f}' for t in full)})"
        )
        print(
            f"naive UTR search in every line, scaled from 2,000 credits: {naive:.1f} s "
            f"({naive / min(pure):.0f}× the matcher)"
        )
    finally:
        engine.dispose()
        drop_database(args.backend, url)


if __name__ == "__main__":
    main()
