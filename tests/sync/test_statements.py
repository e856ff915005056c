"""Statement parsers: each bank layout, MT940, camt.053; bad lines quarantined with a reason; XML bombs refused."""

from __future__ import annotations

from datetime import date

import pytest

from data.settings import Settings
from sync.statement_import import csv_layout
from sync.statements import (
    CSV_PRESETS,
    CsvLayout,
    StatementError,
    detect_format,
    line_keys,
    parse_statement,
    to_minor,
)

HDFC_CSV = b"""HDFC BANK Ltd.
Account No :50200012345678
Statement From : 01/12/26 To : 03/12/26

Date     ,Narration,Value Dat,Debit Amount       ,Credit Amount      ,Chq/Ref Number   ,Closing Balance
********,********,********,********,********,********,********
01/12/26,NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PRIVATE LIMITED-UTIBR020788AB12CD34,01/12/26,,150000.50,0000123456789012,250000.50
02/12/26,POS 4591XXXXXX1234 AMAZON WEB SERVICES,02/12/26,2360.00,,0000123456789013,247640.50
02/12/26,BROKEN LINE,02/12/26,,12x.00,0000123456789014,247640.50
03/12/26,"IMPS-CUSTOMER, ADVANCE",03/12/26,,"1,00,000.00",0000123456789015,347640.50
"""

ICICI_CSV = b"""DETAILED STATEMENT
Transactions List - ACME PRIVATE LIMITED (INR) - 000405012345
S No.,Value Date,Transaction Date,Cheque Number,Transaction Remarks,Withdrawal Amount (INR ),Deposit Amount (INR ),Balance (INR )
1,02/12/2026,01/12/2026,-,NEFT-UTIBR020788AB12CD34-RAZORPAY SOFTWARE PVT LTD,0.00,"1,50,000.50","2,50,000.50"
2,02/12/2026,02/12/2026,-,BIL/ONL/000123/ELECTRICITY,"1,200.00",0.00,"2,49,800.50"
"""

MT940 = b""":20:STMT20261203
:25:HDFC0000001/50200012345678
:28C:00001/001
:60F:C261130INR100000,00
:61:2612011201C150000,50NTRF0000123456789012//HDFCREF1
:86:NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PRIVATE LIMITED-
UTIBR020788AB12CD34
:61:2612021202D2360,00NCHGNONREF
:86:BANK CHARGES
:61:2612031203C12X,00NTRFBROKEN
:86:BROKEN
:62F:C261203INR247640,50
-
"""

CAMT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <Stmt>
      <Id>S1</Id>
      <FrToDt><FrDtTm>2026-12-01T00:00:00</FrDtTm><ToDtTm>2026-12-03T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><Othr><Id>50200012345678</Id></Othr></Id><Ccy>INR</Ccy></Acct>
      <Ntry>
        <Amt Ccy="INR">150000.50</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <BookgDt><Dt>2026-12-01</Dt></BookgDt>
        <ValDt><Dt>2026-12-02</Dt></ValDt>
        <AcctSvcrRef>0000123456789012</AcctSvcrRef>
        <NtryDtls><TxDtls><Refs><EndToEndId>UTIBR020788AB12CD34</EndToEndId></Refs>
          <RmtInf><Ustrd>RAZORPAY SOFTWARE PVT LTD SETTLEMENT</Ustrd></RmtInf></TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="INR">2360.00</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <BookgDt><Dt>2026-12-02</Dt></BookgDt>
      </Ntry>
      <Ntry>
        <Amt Ccy="INR">100.00</Amt>
        <CdtDbtInd>XXXX</CdtDbtInd>
        <BookgDt><Dt>2026-12-03</Dt></BookgDt>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document><BkToCstmrStmt><Stmt><Ntry><Amt>&lol2;</Amt></Ntry></Stmt></BkToCstmrStmt></Document>
"""


def test_hdfc_csv_preset_reads_lines_period_and_quarantines_the_bad_line() -> None:
    parsed = parse_statement(HDFC_CSV, "csv", CSV_PRESETS["hdfc"])
    assert parsed.account == "XXXX5678"
    assert (parsed.period_start, parsed.period_end) == (date(2026, 12, 1), date(2026, 12, 3))
    assert [(line.line_number, line.direction, line.amount) for line in parsed.lines] == [
        (7, "credit", 15_000_050),
        (8, "debit", 236_000),
        (10, "credit", 10_000_000),
    ]
    first = parsed.lines[0]
    assert first.reference == "0000123456789012"
    assert first.balance == 25_000_050
    assert "UTIBR020788AB12CD34" in (first.narration or "")
    assert first.raw.startswith("01/12/26,NEFT CR-UTIB0000646")
    assert parsed.lines[2].narration == "IMPS-CUSTOMER, ADVANCE"
    assert [(bad.line_number, bad.reason) for bad in parsed.bad] == [(9, "not an amount: '12x.00'")]


def test_icici_csv_preset_reads_indian_digit_grouping_and_value_dates() -> None:
    parsed = parse_statement(ICICI_CSV, "csv", CSV_PRESETS["icici"])
    assert [
        (line.value_date, line.booking_date, line.direction, line.amount, line.balance)
        for line in parsed.lines
    ] == [
        (date(2026, 12, 2), date(2026, 12, 1), "credit", 15_000_050, 25_000_050),
        (date(2026, 12, 2), date(2026, 12, 2), "debit", 120_000, 24_980_050),
    ]
    assert parsed.bad == []
    # No declared period: coverage is the span of the lines' dates.
    assert parsed.coverage() == (date(2026, 12, 1), date(2026, 12, 2))


def test_custom_mapping_from_settings_with_one_signed_amount_column() -> None:
    settings = Settings(
        bank_csv_preset="custom",
        bank_csv_columns={
            "date": "Txn Date",
            "narration": "Details",
            "amount": "Amount",
            "date_formats": "%Y-%m-%d",
        },
    )
    layout = csv_layout(settings)
    body = b"Txn Date,Details,Amount\n2026-12-01,RAZORPAY UTIBR1,1500.25\n2026-12-02,RENT,-200\n"
    parsed = parse_statement(body, "csv", layout)
    assert [(line.direction, line.amount) for line in parsed.lines] == [
        ("credit", 150_025),
        ("debit", 20_000),
    ]
    with pytest.raises(StatementError, match="unknown CSV mapping key"):
        CsvLayout.from_mapping("x", {"date": "d", "narration": "n", "amount": "a", "colour": "c"})


def test_a_preset_whose_header_is_absent_fails_the_file_with_a_reason() -> None:
    with pytest.raises(StatementError, match="no header row"):
        parse_statement(ICICI_CSV, "csv", CSV_PRESETS["hdfc"])


def test_mt940_lines_continuation_and_a_malformed_61_quarantined() -> None:
    parsed = parse_statement(MT940, "mt940")
    assert parsed.currency == "INR"
    assert parsed.account == "XXXX5678"
    assert (parsed.period_start, parsed.period_end) == (date(2026, 12, 1), date(2026, 12, 3))
    credit, debit = parsed.lines
    assert (credit.line_number, credit.direction, credit.amount) == (5, "credit", 15_000_050)
    assert "UTIBR020788AB12CD34" in (credit.narration or "")
    assert credit.reference == "0000123456789012//HDFCREF1"
    assert (debit.direction, debit.amount, debit.reference) == ("debit", 236_000, None)
    assert [(bad.line_number, bad.raw.splitlines()[0]) for bad in parsed.bad] == [
        (10, ":61:2612031203C12X,00NTRFBROKEN")
    ]


def test_camt053_entries_with_line_numbers_and_a_bad_entry_quarantined() -> None:
    parsed = parse_statement(CAMT, "camt053")
    assert parsed.account == "XXXX5678"
    assert (parsed.period_start, parsed.period_end) == (date(2026, 12, 1), date(2026, 12, 3))
    credit, debit = parsed.lines
    assert (credit.line_number, credit.value_date, credit.booking_date) == (
        8,
        date(2026, 12, 2),
        date(2026, 12, 1),
    )
    assert credit.reference == "0000123456789012//UTIBR020788AB12CD34"
    assert credit.narration == "RAZORPAY SOFTWARE PVT LTD SETTLEMENT"
    assert credit.raw.startswith("<Ntry>") and credit.raw.endswith("</Ntry>")
    assert (debit.direction, debit.amount, debit.value_date) == ("debit", 236_000, date(2026, 12, 2))
    assert [(bad.line_number, bad.reason) for bad in parsed.bad] == [
        (22, "<CdtDbtInd> is 'XXXX', not CRDT or DBIT")
    ]


def test_camt053_with_entities_is_refused_not_expanded() -> None:
    with pytest.raises(StatementError, match="refused"):
        parse_statement(BILLION_LAUGHS, "camt053")
    with pytest.raises(StatementError, match="not well-formed"):
        parse_statement(b"<Document><Stmt>", "camt053")


def test_format_detection() -> None:
    assert detect_format(CAMT) == "camt053"
    assert detect_format(MT940) == "mt940"
    assert detect_format(HDFC_CSV) == "csv"


def test_amounts_are_exact_minor_units() -> None:
    assert to_minor("1,50,000.50") == 15_000_050
    assert to_minor("150000,5") == 15_000_050
    assert to_minor("0.10") == 10
    with pytest.raises(ValueError, match="more than 2 decimals"):
        to_minor("1.005")


def test_identical_lines_of_one_file_get_distinct_keys_and_the_same_keys_on_reimport() -> None:
    parsed = parse_statement(HDFC_CSV + HDFC_CSV.splitlines(keepends=True)[6], "csv", CSV_PRESETS["hdfc"])
    keys = line_keys(parsed.account, parsed.lines)
    assert len(parsed.lines) == 4 and len(set(keys)) == 4  # the repeated credit is a second occurrence
    again = parse_statement(HDFC_CSV, "csv", CSV_PRESETS["hdfc"])
    assert line_keys(again.account, again.lines) == keys[:3]
