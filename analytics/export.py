"""The one CSV writer: every CSV the app and the CLIs write goes through `write_csv`.

Rules, the same for every file:
- Every cell is neutralised against formula injection (OWASP "CSV Injection"): a value starting with
  `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, whoever planted it (an email, the
  event type of an unsigned, rejected delivery).
- Times are IST, written `2026-11-26 12:33:05`, and the header says so: `Created (IST)`.
- Money columns are integer minor units (paise for INR) beside the row's currency, and the header
  says so: `Amount (minor units)`. Exact, sortable and summable in a spreadsheet; formatted ₹ text
  appears only inside readable free text (evidence, explanations).
- Headers are words (`settlement_id` → `Settlement id`), never snake_case; no value is `None`.

Rows arrive as any iterable of mappings, so a caller streams a million rows from a server-side
cursor without holding them (see analytics/listing.py).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TextIO

from data.ist import IST

__all__ = [
    "MONEY_KEYS",
    "Column",
    "columns_for",
    "header_text",
    "neutralise",
    "write_csv",
]

Kind = Literal["text", "money", "time", "number"]

# OWASP: cells beginning with these are read as formulas by Excel, LibreOffice and Google Sheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Columns that hold money in minor units wherever they appear (their row has a currency column).
MONEY_KEYS = frozenset(
    {
        "amount",
        "amount_refunded",
        "base_amount",
        "fee",
        "fees",
        "tax",
        "credit",
        "debit",
        "credits",
        "debits",
        "lines_net",
        "difference",
        "expected_amount",
        "actual_amount",
        "at_stake",
        "credited_amount",
        "amount_paid",
        "amount_due",
        "order_amount",
    }
)


def neutralise(text: str) -> str:
    """`=HYPERLINK(...)` → `'=HYPERLINK(...)`: a spreadsheet shows the text instead of running it."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def header_text(key: str) -> str:
    """`settlement_id` → `Settlement id` (a header a person reads)."""
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Column:
    """One CSV column: the row key it reads, what kind of value it is, and its header words."""

    key: str
    kind: Kind = "text"
    label: str | None = None

    @property
    def header(self) -> str:
        words = self.label or header_text(self.key)
        if self.kind == "money":
            return f"{words} (minor units)"
        if self.kind == "time":
            return f"{words} (IST)"
        return words


def _time_text(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in an export: times are aware UTC")
        return value.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat()


def _cell(value: Any, kind: Kind) -> str:
    # pandas hands NaN/NaT/None for "no value"; a CSV cell is then empty (never "None" or "nan").
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if type(value).__name__ in ("NaTType", "NAType"):
        return ""
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if kind == "money" or (kind == "number" and isinstance(value, int | Decimal)):
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | Decimal) or (isinstance(value, float) and value.is_integer()):
            return str(int(value))
        return neutralise(str(value))
    if isinstance(value, datetime | date):
        return _time_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return neutralise(str(value))


def write_csv(out: TextIO, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a header and one line per row to `out` (opened with newline=""), streaming; returns rows."""
    writer = csv.writer(out)
    writer.writerow([neutralise(column.header) for column in columns])
    written = 0
    for row in rows:
        writer.writerow([_cell(row.get(column.key), column.kind) for column in columns])
        written += 1
    return written


def columns_for(
    keys: Sequence[str], *, times: Iterable[str] = (), labels: Mapping[str, str] | None = None
) -> list[Column]:
    """Columns for rows with these keys: money by name (when the rows carry a currency), times by
    name (`*_at`, or listed in `times`), text otherwise."""
    has_currency = "currency" in keys
    timed = set(times)
    chosen: list[Column] = []
    for key in keys:
        label = (labels or {}).get(key)
        if has_currency and (key in MONEY_KEYS or key.endswith("_amount")):
            chosen.append(Column(key, "money", label))
        elif key in timed or key.endswith("_at") or key in ("start", "end"):
            chosen.append(Column(key, "time", label))
        else:
            chosen.append(Column(key, "text", label))
    return chosen
