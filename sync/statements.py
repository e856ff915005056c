"""Bank statement parsers: CSV (configurable column mapping, presets per bank), MT940 and camt.053.

Parsing only: each parser turns a file's bytes into a `ParsedStatement` of lines (with their line
number and raw text) and bad lines (with the reason), never touching the database. A bad line never
stops the rest; a file that cannot be read at all (not XML, an XML entity bomb, no header row) raises
`StatementError`. Amounts become integer minor units through `Decimal`, never through float.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import defusedxml.ElementTree as SafeElementTree
import mt940
from defusedxml import DefusedXmlException

__all__ = [
    "CSV_PRESETS",
    "FORMATS",
    "BadLine",
    "CsvLayout",
    "ParsedStatement",
    "StatementError",
    "StatementLine",
    "detect_format",
    "line_keys",
    "mask_account",
    "parse_statement",
]

FORMATS = ("csv", "mt940", "camt053")

# The mt-940 library logs the text of any :61: it cannot parse at ERROR level: that is statement
# content (names, account numbers) in the log. The reason is kept with the quarantined line instead.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


class StatementError(ValueError):
    """The whole file cannot be read as a statement of the given format."""


@dataclass(frozen=True)
class StatementLine:
    line_number: int  # 1-based line of the file where the transaction starts
    value_date: date
    booking_date: date | None
    direction: str  # credit | debit
    amount: int  # minor units, positive
    currency: str
    reference: str | None
    narration: str | None
    balance: int | None
    raw: str


@dataclass(frozen=True)
class BadLine:
    line_number: int
    raw: str
    reason: str


@dataclass
class ParsedStatement:
    format: str
    preset: str | None
    account: str | None  # masked: last four characters only
    currency: str
    period_start: date | None
    period_end: date | None
    lines: list[StatementLine] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)

    def coverage(self) -> tuple[date, date] | None:
        """The days the statement covers: its declared period, else the span of its lines' dates."""
        days = [line.value_date for line in self.lines] + [
            line.booking_date for line in self.lines if line.booking_date
        ]
        start = self.period_start or (min(days) if days else None)
        end = self.period_end or (max(days) if days else None)
        if start is None or end is None:
            return None
        return (start, end) if start <= end else (end, start)


def mask_account(account: str | None) -> str | None:
    """Only the last four digits/characters of an account number are kept."""
    if not account:
        return None
    compact = re.sub(r"[^0-9A-Za-z]", "", account)
    return ("XXXX" + compact[-4:]) if compact else None


def to_minor(text: str, digits: int = 2) -> int:
    """'1,50,000.50' → 15000050. Indian and Western grouping; MT940's decimal comma ('150000,50')."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"\d+,\d{1,2}", value):  # MT940 / European decimal comma, no grouping
        value = value.replace(",", ".")
    value = value.replace(",", "")
    if value.upper().endswith(("CR", "DR")):
        value = value[:-2]
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        raise ValueError(f"not an amount: {text.strip()[:40]!r}")
    amount = Decimal(value).scaleb(digits)
    if amount != amount.to_integral_value():
        raise ValueError(f"amount {text.strip()!r} has more than {digits} decimals")
    return int(amount)


def line_keys(account: str | None, lines: Sequence[StatementLine]) -> list[str]:
    """The transaction identity of each line (see data.models.BankStatementLine): identical lines of
    one file are told apart by their occurrence number, so a real duplicate credit is kept."""
    seen: dict[str, int] = {}
    keys = []
    for line in lines:
        identity = "|".join(
            [
                account or "",
                line.currency,
                line.value_date.isoformat(),
                line.booking_date.isoformat() if line.booking_date else "",
                line.direction,
                str(line.amount),
                (line.reference or "").strip().upper(),
                " ".join((line.narration or "").split()).upper(),
            ]
        )
        occurrence = seen.get(identity, 0) + 1
        seen[identity] = occurrence
        keys.append(hashlib.sha256(f"{identity}|{occurrence}".encode()).hexdigest())
    return keys


# --- CSV ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """Where each field is in a bank's CSV export. Header names are matched case-insensitively after
    trimming spaces and dots (banks pad them). Amounts come either as separate debit/credit columns
    or as one `amount` column with a `dr_cr` column (or a sign)."""

    name: str
    date: str
    narration: str
    value_date: str | None = None
    reference: str | None = None
    debit: str | None = None
    credit: str | None = None
    amount: str | None = None
    dr_cr: str | None = None
    balance: str | None = None
    date_formats: tuple[str, ...] = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d-%b-%Y", "%Y-%m-%d")
    currency: str = "INR"
    delimiter: str = ","

    @classmethod
    def from_mapping(cls, name: str, mapping: Mapping[str, Any]) -> CsvLayout:
        known = {f for f in cls.__dataclass_fields__ if f != "name"}
        unknown = set(mapping) - known
        if unknown:
            raise StatementError(f"unknown CSV mapping key(s): {', '.join(sorted(unknown))}")
        values = dict(mapping)
        if "date_formats" in values:
            formats = values["date_formats"]
            values["date_formats"] = (formats,) if isinstance(formats, str) else tuple(formats)
        layout = cls(name=name, **values)
        if not (layout.debit and layout.credit) and not layout.amount:
            raise StatementError("a CSV mapping needs debit and credit columns, or an amount column")
        return layout


# Presets for the net-banking CSV exports of two Indian banks (docs/statements.md lists the columns).
CSV_PRESETS: dict[str, CsvLayout] = {
    # HDFC Bank net banking → Statement → "Delimited" download: some preamble lines, then
    # Date, Narration, Value Dat, Debit Amount, Credit Amount, Chq/Ref Number, Closing Balance
    # (dd/mm/yy; headers padded with spaces; a row of asterisks under the header).
    "hdfc": CsvLayout(
        name="hdfc",
        date="Date",
        narration="Narration",
        value_date="Value Dat",
        debit="Debit Amount",
        credit="Credit Amount",
        reference="Chq/Ref Number",
        balance="Closing Balance",
    ),
    # ICICI Bank net banking → Detailed statement → CSV: preamble, then S No., Value Date,
    # Transaction Date, Cheque Number, Transaction Remarks, Withdrawal Amount (INR ),
    # Deposit Amount (INR ), Balance (INR ) (dd/mm/yyyy; Indian digit grouping).
    "icici": CsvLayout(
        name="icici",
        date="Transaction Date",
        value_date="Value Date",
        narration="Transaction Remarks",
        reference="Cheque Number",
        debit="Withdrawal Amount (INR )",
        credit="Deposit Amount (INR )",
        balance="Balance (INR )",
    ),
    # A plain layout for anything else (and hand-made files): ISO dates, one signed amount column.
    "generic": CsvLayout(
        name="generic",
        date="date",
        value_date="value_date",
        narration="narration",
        reference="reference",
        amount="amount",
        dr_cr="type",
        balance="balance",
    ),
}


def _header_key(text: str) -> str:
    return re.sub(r"[\s.]+", " ", text.replace("\ufeff", "")).strip(" .").lower()


def _parse_date(text: str, formats: Sequence[str]) -> date:
    value = text.strip()
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date, no instant
        except ValueError:
            continue
    raise ValueError(f"not a date: {value[:30]!r}")


_PERIOD = re.compile(
    r"from\s*:?\s*(\d{1,2}[/-]\d{1,2}[/-]\d{2,4})\s*to\s*:?\s*(\d{1,2}[/-]\d{1,2}[/-]\d{2,4})", re.IGNORECASE
)


def _parse_csv(text: str, layout: CsvLayout) -> ParsedStatement:
    rows = text.splitlines()
    wanted = {_header_key(layout.date), _header_key(layout.narration)}
    header_at: int | None = None
    columns: dict[str, int] = {}
    period: tuple[date, date] | None = None
    account: str | None = None
    for index, row_text in enumerate(rows):
        cells = next(csv.reader([row_text], delimiter=layout.delimiter), [])
        keys = [_header_key(cell) for cell in cells]
        if wanted <= set(keys):
            header_at = index
            columns = {key: position for position, key in enumerate(keys) if key}
            break
        found = _PERIOD.search(row_text)
        if found and period is None:
            try:
                period = (
                    _parse_date(found.group(1), layout.date_formats),
                    _parse_date(found.group(2), layout.date_formats),
                )
            except ValueError:
                period = None
        account_match = re.search(
            r"account\s*(?:no|number)\.?\s*:?\s*([0-9Xx*]{6,})", row_text, re.IGNORECASE
        )
        if account_match and account is None:
            account = account_match.group(1)
    if header_at is None:
        raise StatementError(
            f"no header row with the {layout.name!r} layout's columns "
            f"({layout.date!r}, {layout.narration!r}); pick another --preset or set the column mapping"
        )

    def column(name: str | None) -> int | None:
        if name is None:
            return None
        position = columns.get(_header_key(name))
        if position is None:
            raise StatementError(f"the header row has no {name!r} column (layout {layout.name!r})")
        return position

    at = {
        name: column(getattr(layout, name))
        for name in ("date", "narration", "value_date", "reference", "debit", "credit", "amount", "dr_cr")
    }
    # The balance column is optional even when the layout names it (some exports drop it).
    at["balance"] = columns.get(_header_key(layout.balance)) if layout.balance else None
    statement = ParsedStatement(
        format="csv",
        preset=layout.name,
        account=mask_account(account),
        currency=layout.currency,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
    )
    for index in range(header_at + 1, len(rows)):
        row_text = rows[index]
        cells = next(csv.reader([row_text], delimiter=layout.delimiter), [])
        if not any(cell.strip().strip("*") for cell in cells):
            continue  # blank lines and the row of asterisks under HDFC's header
        try:
            statement.lines.append(_csv_line(index + 1, row_text, cells, at, layout))
        except (ValueError, IndexError) as error:
            statement.bad.append(BadLine(index + 1, row_text, str(error)))
    return statement


def _cell(cells: Sequence[str], position: int | None) -> str:
    if position is None or position >= len(cells):
        return ""
    return cells[position].strip()


def _csv_line(
    line_number: int, raw: str, cells: Sequence[str], at: Mapping[str, int | None], layout: CsvLayout
) -> StatementLine:
    if len(cells) <= max(position for position in at.values() if position is not None):
        raise ValueError(f"{len(cells)} fields, the header has more")
    booking = _parse_date(_cell(cells, at["date"]), layout.date_formats)
    value_text = _cell(cells, at["value_date"])
    value_date = _parse_date(value_text, layout.date_formats) if value_text else booking
    if layout.amount:
        signed = to_minor(_cell(cells, at["amount"]))
        marker = _cell(cells, at["dr_cr"]).upper()
        if marker in ("DR", "D", "DEBIT") or (not marker and signed < 0):
            direction = "debit"
        elif marker in ("CR", "C", "CREDIT") or not marker:
            direction = "credit"
        else:
            raise ValueError(f"debit/credit marker {marker[:10]!r} is neither DR nor CR")
        amount = abs(signed)
    else:
        debit_text, credit_text = _cell(cells, at["debit"]), _cell(cells, at["credit"])
        debit = to_minor(debit_text) if debit_text else 0
        credit = to_minor(credit_text) if credit_text else 0
        if (debit == 0) == (credit == 0):
            raise ValueError("exactly one of the debit and credit amounts must be non-zero")
        direction, amount = ("credit", credit) if credit else ("debit", debit)
    if amount <= 0:
        raise ValueError("the amount is zero or negative")
    balance_text = _cell(cells, at["balance"])
    return StatementLine(
        line_number=line_number,
        value_date=value_date,
        booking_date=booking,
        direction=direction,
        amount=amount,
        currency=layout.currency,
        reference=_cell(cells, at["reference"]) or None,
        narration=_cell(cells, at["narration"]) or None,
        balance=to_minor(balance_text) if balance_text else None,
        raw=raw,
    )


# --- MT940 --------------------------------------------------------------------------------------------

_TAG = re.compile(r"^:(\d{2}[A-Z]?):", re.MULTILINE)


@dataclass
class _Mt940Block:
    tag: str
    line_number: int
    text: str  # the tag line and its continuation lines


def _mt940_blocks(text: str) -> Iterator[_Mt940Block]:
    lines = text.splitlines()
    current: _Mt940Block | None = None
    for number, line in enumerate(lines, 1):
        found = _TAG.match(line)
        if found:
            if current is not None:
                yield current
            current = _Mt940Block(found.group(1), number, line)
        elif current is not None and line.strip() and not line.startswith(("-}", "{", "-")):
            current.text += "\n" + line
    if current is not None:
        yield current


def _balance_date(block: _Mt940Block) -> date | None:
    found = re.match(r"^:6[02][FM]:[CD](\d{6})", block.text)
    if not found:
        return None
    try:
        return datetime.strptime(found.group(1), "%y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return None


def _parse_mt940(text: str) -> ParsedStatement:
    blocks = list(_mt940_blocks(text))
    if not any(block.tag == "61" for block in blocks) and not any(
        block.tag.startswith("60") for block in blocks
    ):
        raise StatementError("no MT940 :60F: opening balance or :61: transaction found")
    statement = ParsedStatement(
        format="mt940", preset=None, account=None, currency="", period_start=None, period_end=None
    )
    header = ""
    opening_dates: list[date] = []
    closing_dates: list[date] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        if block.tag == "25" and statement.account is None:
            statement.account = mask_account(block.text[4:].strip())
        if block.tag in ("60F", "60M"):
            header = block.text
            found = re.match(r"^:60[FM]:[CD]\d{6}([A-Z]{3})", block.text)
            if found and not statement.currency:
                statement.currency = found.group(1)
            opening = _balance_date(block)
            if opening:
                opening_dates.append(opening)
        if block.tag in ("62F", "62M"):
            closing = _balance_date(block)
            if closing:
                closing_dates.append(closing)
        if block.tag != "61":
            index += 1
            continue
        detail = blocks[index + 1] if index + 1 < len(blocks) and blocks[index + 1].tag == "86" else None
        raw = block.text + ("\n" + detail.text if detail else "")
        index += 2 if detail else 1
        try:
            statement.lines.append(_mt940_line(block.line_number, raw, header))
        except (ValueError, RuntimeError, InvalidOperation) as error:
            statement.bad.append(BadLine(block.line_number, raw, _short_reason(error)))
    if not statement.currency:
        raise StatementError("the MT940 statement has no :60F: opening balance (currency unknown)")
    # The opening balance is dated the day before the first day the statement covers.
    if opening_dates:
        first = min(opening_dates)
        statement.period_start = date.fromordinal(first.toordinal() + 1)
    if closing_dates:
        statement.period_end = max(closing_dates)
    return statement


def _short_reason(error: Exception) -> str:
    text = str(error.args[0]) if error.args else type(error).__name__
    return text.splitlines()[0][:200]


# Value date, optional entry date, (R)C/(R)D, optional funds code, amount with its decimal comma, and
# the transaction type (N/F/S + 3): the library is lenient about the amount, payops is not.
_FIELD_61 = re.compile(r"^:61:\d{6}(\d{4})?R?[CD][A-Z]?\d{1,12},\d{0,2}[NFS][A-Z0-9]{3}")


def _mt940_line(line_number: int, raw: str, header: str) -> StatementLine:
    if not header:
        raise ValueError(":61: before any :60F: opening balance")
    if not _FIELD_61.match(raw):
        raise ValueError(":61: is not date, D/C mark, amount (digits and a decimal comma) and type")
    parsed = mt940.models.Transactions()
    try:
        parsed.parse(":20:X\n" + header + "\n" + raw + "\n")
    except RuntimeError as error:
        raise ValueError("unparseable :61: line (date, D/C mark or amount)") from error
    if len(parsed.transactions) != 1:
        raise ValueError("not one :61: transaction")
    data = parsed.transactions[0].data
    amount_value = data["amount"].amount
    if not isinstance(amount_value, Decimal):
        raise ValueError("amount missing")
    amount = int(amount_value.scaleb(2))
    status = str(data.get("status") or "")
    direction = "debit" if status.endswith("D") else "credit"
    if status.startswith("R"):  # a reversal of a debit is a credit and vice versa
        direction = "credit" if direction == "debit" else "debit"
    value_date = _as_date(data.get("date"))
    if value_date is None:
        raise ValueError("no value date")
    references = [str(data.get(name) or "").strip() for name in ("customer_reference", "bank_reference")]
    reference = "//".join(part for part in references if part and part.upper() != "NONREF") or None
    details = [str(data.get(name) or "").strip() for name in ("extra_details", "transaction_details")]
    narration = " ".join(" ".join(part.split()) for part in details if part) or None
    if abs(amount) == 0:
        raise ValueError("the amount is zero")
    return StatementLine(
        line_number=line_number,
        value_date=value_date,
        booking_date=_as_date(data.get("entry_date")),
        direction=direction,
        amount=abs(amount),
        currency=str(data.get("currency") or ""),
        reference=reference[:128] if reference else None,
        narration=narration,
        balance=None,
        raw=raw,
    )


def _as_date(value: object) -> date | None:
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    return None


# --- camt.053 -----------------------------------------------------------------------------------------

_NTRY_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?Ntry[\s>]")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Any, *path: str) -> Any:
    current = element
    for name in path:
        if current is None:
            return None
        current = next((c for c in current if _local(c.tag) == name), None)
    return current


def _text(element: Any, *path: str) -> str | None:
    found = _child(element, *path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip() or None


def _iso_date(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text[:10])


def _parse_camt053(text: str) -> ParsedStatement:
    try:
        # Entities are refused (no billion laughs, no external entities) and so is any DTD:
        # camt.053 never needs one.
        root = SafeElementTree.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as error:
        raise StatementError(f"refused: the XML declares {type(error).__name__} (DTD or entities)") from None
    except SafeElementTree.ParseError as error:
        raise StatementError(f"not well-formed XML: {error}") from None
    statements = [element for element in root.iter() if _local(element.tag) == "Stmt"]
    if not statements:
        raise StatementError("no camt.053 <Stmt> element (is this BkToCstmrStmt?)")
    starts = [text.count("\n", 0, found.start()) + 1 for found in _NTRY_START.finditer(text)]
    ends = [found.end() for found in re.finditer(r"</(?:[A-Za-z_][\w.-]*:)?Ntry>", text)]
    raw_starts = [found.start() for found in _NTRY_START.finditer(text)]
    result = ParsedStatement(
        format="camt053", preset=None, account=None, currency="", period_start=None, period_end=None
    )
    entry_index = 0
    for stmt in statements:
        account = _text(stmt, "Acct", "Id", "IBAN") or _text(stmt, "Acct", "Id", "Othr", "Id")
        result.account = result.account or mask_account(account)
        currency = _text(stmt, "Acct", "Ccy") or ""
        result.currency = result.currency or currency
        period_from = _iso_date(_text(stmt, "FrToDt", "FrDtTm"))
        period_to = _iso_date(_text(stmt, "FrToDt", "ToDtTm"))
        if period_from:
            result.period_start = min(filter(None, [result.period_start, period_from]))
        if period_to:
            result.period_end = max(filter(None, [result.period_end, period_to]))
        for entry in stmt:
            if _local(entry.tag) != "Ntry":
                continue
            line_number = starts[entry_index] if entry_index < len(starts) else 0
            raw = text[raw_starts[entry_index] : ends[entry_index]] if entry_index < len(ends) else ""
            entry_index += 1
            try:
                result.lines.append(_camt_line(entry, line_number, raw, currency))
            except (ValueError, KeyError, InvalidOperation) as error:
                result.bad.append(BadLine(line_number, raw, _short_reason(error)))
    if not result.currency:
        result.currency = next((line.currency for line in result.lines), "INR")
    return result


def _camt_line(entry: Any, line_number: int, raw: str, account_currency: str) -> StatementLine:
    amount_element = _child(entry, "Amt")
    if amount_element is None or not (amount_element.text or "").strip():
        raise ValueError("<Amt> missing")
    amount = to_minor(amount_element.text)
    currency = amount_element.get("Ccy") or account_currency
    if not currency:
        raise ValueError("no currency on <Amt> or the account")
    indicator = _text(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise ValueError(f"<CdtDbtInd> is {indicator!r}, not CRDT or DBIT")
    if _text(entry, "RvslInd") == "true":
        indicator = "DBIT" if indicator == "CRDT" else "CRDT"
    booking = _iso_date(_text(entry, "BookgDt", "Dt") or _text(entry, "BookgDt", "DtTm"))
    value_date = _iso_date(_text(entry, "ValDt", "Dt") or _text(entry, "ValDt", "DtTm")) or booking
    if value_date is None:
        raise ValueError("no <ValDt> or <BookgDt>")
    details = _child(entry, "NtryDtls", "TxDtls")
    references = [
        _text(entry, "AcctSvcrRef"),
        _text(details, "Refs", "EndToEndId") if details is not None else None,
        _text(details, "Refs", "TxId") if details is not None else None,
        _text(details, "Refs", "UETR") if details is not None else None,
    ]
    reference = "//".join(dict.fromkeys(r for r in references if r and r != "NOTPROVIDED")) or None
    remittance = []
    if details is not None:
        info = _child(details, "RmtInf")
        if info is not None:
            remittance = [str(c.text).strip() for c in info if _local(c.tag) == "Ustrd" and c.text]
    narration_parts = [*remittance, _text(entry, "AddtlNtryInf") or ""]
    narration = " ".join(part for part in narration_parts if part) or None
    if amount <= 0:
        raise ValueError("the amount is zero or negative")
    return StatementLine(
        line_number=line_number,
        value_date=value_date,
        booking_date=booking,
        direction="credit" if indicator == "CRDT" else "debit",
        amount=amount,
        currency=currency,
        reference=reference[:128] if reference else None,
        narration=narration,
        balance=None,
        raw=raw,
    )


# --- entry point --------------------------------------------------------------------------------------


def detect_format(content: bytes) -> str:
    """csv | mt940 | camt053 from the first bytes (the CLI's default when --format is not given)."""
    head = content[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or b"<Document" in head:
        return "camt053"
    if re.search(rb"^:20:|^\{1:|^:25:", head, re.MULTILINE):
        return "mt940"
    return "csv"


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, which many bank exports still use."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def parse_statement(content: bytes, fmt: str, layout: CsvLayout | None = None) -> ParsedStatement:
    """Parse one statement file. `layout` is required for CSV."""
    if fmt == "camt053":
        return _parse_camt053(decode(content))
    text = decode(content)
    if fmt == "mt940":
        return _parse_mt940(text)
    if fmt == "csv":
        if layout is None:
            raise StatementError("a CSV statement needs a column layout (--preset or the mapping setting)")
        return _parse_csv(text, layout)
    raise StatementError(f"unknown statement format {fmt!r}; choose from {', '.join(FORMATS)}")
