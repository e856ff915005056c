"""Bank statements for the sandbox's settlements (HDFC-style CSV, MT940, camt.053), with planted faults.

The statement is the merchant's INR current account over the sandbox's history: one credit per INR
settlement (value date the settlement day, sometimes the next business day), everyday noise (UPI and
NEFT receipts from customers, vendor payments, charges), and the faults the manifest lists:

- missing_credit: a settlement's credit is absent (expect settlement_not_credited)
- short_credit: credited less than the settlement (expect bank_credit_amount_differs)
- duplicate_credit: credited twice (expect settlement_credited_twice)
- utr_typo: the narration's UTR has one wrong character (expect a match by amount and date, no break)
- same_amount_credits: a settlement credited without its UTR on a day another UTR-less Razorpay-looking
  credit of the same amount arrives (expect bank_credit_ambiguous on both lines, no guess)
- twin_settlements: two settlements of one amount on one day (sandbox.anomalies plants them), both
  credited that day with their UTRs (expect each matched to its own credit by UTR, no break)
- orphan_credit: a Razorpay-looking credit no settlement explains (expect bank_credit_without_settlement)
- decoy_credit: a customer's credit equal to a settlement's amount, not Razorpay-looking (expect nothing)
- malformed_line: one line with an unreadable amount (expect it quarantined, the rest loaded)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import textwrap
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from sandbox.generator import DAY, INR, IST_OFFSET, Dataset, hash_int

__all__ = ["FORMATS", "StatementPlan", "plan_statement", "render_statement"]

FORMATS = ("csv", "mt940", "camt053")
ACCOUNT_NUMBER = "50200012345678"
OPENING_BALANCE = 10_000_000_00
_EPOCH = date(1970, 1, 1)
_RAZORPAY_NARRATION = "NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PRIVATE LIMITED-{utr}"
_RAZORPAY_NO_UTR = "NEFT CR-UTIB0000646-RAZORPAY SOFTWARE PVT LTD-SETTLEMENT"
_NOISE_CREDITS = (
    "UPI/CR/{ref}/ANIL KUMAR/OKSBI/PAYMENT",
    "IMPS-{ref}-SUNRISE TRADERS-INVOICE",
    "NEFT CR-HDFC0001234-PRIYA STORES-{ref}",
)
_NOISE_DEBITS = (
    "NEFT DR-ICIC0000104-ACME PACKAGING-{ref}",
    "ACH D- TP ACH BAJAJFIN-{ref}",
    "POS 4591XXXXXX1234 AMAZON WEB SERVICES",
    "RTGS DR-SBIN0000300-LANDLORD RENT-{ref}",
)


@dataclasses.dataclass(frozen=True)
class BankLine:
    value_date: date
    direction: str  # credit | debit
    amount: int
    reference: str
    narration: str
    malformed: bool = False


@dataclasses.dataclass
class StatementPlan:
    period_start: date
    period_end: date
    lines: list[BankLine]
    planted: list[dict[str, Any]]

    def manifest(self) -> dict[str, Any]:
        return {
            "account": "XXXX" + ACCOUNT_NUMBER[-4:],
            "currency": "INR",
            "period": [self.period_start.isoformat(), self.period_end.isoformat()],
            "lines": len(self.lines),
            "planted": self.planted,
        }


def _day(epoch_day: int) -> date:
    return _EPOCH + timedelta(days=epoch_day)


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _twins(settlements: list[dict[str, Any]], period_end: date) -> list[dict[str, Any]]:
    """The first two settlements of one amount on one day whose T+1 falls inside the statement."""
    seen: dict[tuple[date, int], dict[str, Any]] = {}
    for x in settlements:
        if _next_business_day(x["day"]) > period_end:
            continue
        first = seen.setdefault((x["day"], x["amount"]), x)
        if first is not x:
            return [first, x]
    return []


def plan_statement(ds: Dataset) -> StatementPlan:
    """Deterministic for the data set's seed and clock: the statement up to yesterday (IST)."""
    seed = ds.config.seed
    rng = np.random.default_rng(np.random.SeedSequence([seed, 41]))
    period_start = _day((ds.start + IST_OFFSET) // DAY + 1)
    period_end = _day((ds.now + IST_OFFSET) // DAY - 1)
    s = ds.settlements
    visible = ds.visible_count(s.created)
    settlements: list[dict[str, Any]] = []
    for k in range(visible):
        day = _day(int((s.created[k] + IST_OFFSET) // DAY))
        if int(s.currency[k]) != INR or int(s.amount[k]) <= 0 or not period_start <= day <= period_end:
            continue
        settlements.append(
            {
                "id": "setl_" + s.id[k].decode(),
                "utr": s.utr[k].decode(),
                "amount": int(s.amount[k]),
                "day": day,
            }
        )
    # Faults go on settlements whose T+1 due day is inside the statement, so each one is a real break.
    eligible = [x for x in settlements if _next_business_day(x["day"]) <= period_end]
    amounts = [x["amount"] for x in settlements]
    unique = [x for x in eligible if amounts.count(x["amount"]) == 1]
    kinds = ["missing_credit", "short_credit", "duplicate_credit", "utr_typo", "same_amount_credits"]
    # As many kinds as there are settlements to plant them on (a short history plants fewer).
    picks = rng.choice(len(unique), size=min(len(kinds), len(unique)), replace=False)
    chosen = {kind: unique[int(index)] for kind, index in zip(kinds, picks, strict=False)}
    by_id = {x["id"]: kind for kind, x in chosen.items()}
    twins = _twins(settlements, period_end)

    lines: list[BankLine] = []
    planted: list[dict[str, Any]] = []
    if twins:
        planted.append(
            {
                "kind": "twin_settlements",
                "settlement_ids": [x["id"] for x in twins],
                "amount": twins[0]["amount"],
                "day": twins[0]["day"].isoformat(),
                "expect": "matched",
                "match_rule": "utr",
            }
        )
    twin_ids = {x["id"] for x in twins}

    def reference(*parts: object) -> str:
        return f"{hash_int(seed, 'bankref', *parts) % 10**16:016d}"

    for x in settlements:
        kind = by_id.get(x["id"])
        # Twins are credited on their day, side by side: the case an amount-and-date match would confuse.
        late = x["id"] not in twin_ids and hash_int(seed, "credit-day", x["id"]) % 4 == 0
        value_date = _next_business_day(x["day"]) if late else x["day"]
        if value_date > period_end:
            continue  # credited after the statement ends
        narration = _RAZORPAY_NARRATION.format(utr=x["utr"])
        ref = reference(x["id"])
        amount = x["amount"]
        if kind == "missing_credit":
            planted.append({"kind": kind, "settlement_id": x["id"], "expect": "settlement_not_credited"})
            continue
        if kind == "short_credit":
            shortfall = int(rng.integers(100, 50_000))
            amount -= shortfall
            planted.append(
                {
                    "kind": kind,
                    "settlement_id": x["id"],
                    "shortfall": shortfall,
                    "expect": "bank_credit_amount_differs",
                }
            )
        if kind == "utr_typo":
            wrong = "7" if x["utr"][-1] != "7" else "3"
            narration = _RAZORPAY_NARRATION.format(utr=x["utr"][:-1] + wrong)
            planted.append(
                {"kind": kind, "settlement_id": x["id"], "expect": "matched", "match_rule": "amount_date"}
            )
        if kind == "same_amount_credits":
            narration = _RAZORPAY_NO_UTR
            lines.append(
                BankLine(value_date, "credit", amount, reference(x["id"], "other"), _RAZORPAY_NO_UTR)
            )
            planted.append(
                {"kind": kind, "settlement_id": x["id"], "lines": 2, "expect": "bank_credit_ambiguous"}
            )
        lines.append(BankLine(value_date, "credit", amount, ref, narration))
        if kind == "duplicate_credit":
            lines.append(BankLine(value_date, "credit", amount, reference(x["id"], "again"), narration))
            planted.append({"kind": kind, "settlement_id": x["id"], "expect": "settlement_credited_twice"})

    days = (period_end - period_start).days + 1
    for offset in range(days):
        day = period_start + timedelta(days=offset)
        for n in range(int(rng.integers(2, 6))):
            credit = bool(rng.random() < 0.5)
            templates = _NOISE_CREDITS if credit else _NOISE_DEBITS
            template = templates[int(rng.integers(0, len(templates)))]
            ref = reference(day, n)
            lines.append(
                BankLine(
                    day,
                    "credit" if credit else "debit",
                    int(rng.integers(10_000, 5_000_000)),
                    ref,
                    template.format(ref=ref[-12:]),
                )
            )
    if settlements:
        middle = period_start + timedelta(days=days // 2)
        orphan_ref = reference("orphan")
        lines.append(
            BankLine(
                middle,
                "credit",
                123_456_78,
                orphan_ref,
                _RAZORPAY_NARRATION.format(utr="UTIBR999999ZZZZ9999"),
            )
        )
        planted.append(
            {
                "kind": "orphan_credit",
                "value_date": middle.isoformat(),
                "amount": 123_456_78,
                "expect": "bank_credit_without_settlement",
            }
        )
        decoy = settlements[len(settlements) // 3]
        lines.append(
            BankLine(
                decoy["day"],
                "credit",
                decoy["amount"],
                reference("decoy"),
                "IMPS-CUSTOMER ADVANCE-SUNRISE TRADERS",
            )
        )
        planted.append({"kind": "decoy_credit", "settlement_id": decoy["id"], "expect": "nothing"})
        lines.append(BankLine(middle, "debit", 2_360, reference("malformed"), "SMS CHARGES", malformed=True))
        planted.append({"kind": "malformed_line", "expect": "quarantined"})
    # Statement order: by value date; within a day, the bank's own reference order.
    lines.sort(key=lambda line: (line.value_date, line.reference))
    return StatementPlan(period_start=period_start, period_end=period_end, lines=lines, planted=planted)


# --- rendering ----------------------------------------------------------------------------------------


def _rupees(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def _balances(plan: StatementPlan) -> list[int]:
    balance = OPENING_BALANCE
    result = []
    for line in plan.lines:
        if not line.malformed:
            balance += line.amount if line.direction == "credit" else -line.amount
        result.append(balance)
    return result


def _csv(plan: StatementPlan) -> bytes:
    """HDFC net banking's "Delimited" export: preamble, padded header, a row of asterisks, lines."""
    out = io.StringIO()
    out.write("HDFC BANK Ltd.\n")
    out.write(f"Account No :{ACCOUNT_NUMBER}\n")
    out.write(f"Statement From : {plan.period_start:%d/%m/%y} To : {plan.period_end:%d/%m/%y}\n\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "Date     ",
            "Narration",
            "Value Dat",
            "Debit Amount       ",
            "Credit Amount      ",
            "Chq/Ref Number   ",
            "Closing Balance",
        ]
    )
    writer.writerow(["*" * 8] * 7)
    for line, balance in zip(plan.lines, _balances(plan), strict=True):
        amount = "2O.6O" if line.malformed else _rupees(line.amount)
        debit, credit = (amount, "") if line.direction == "debit" else ("", amount)
        writer.writerow(
            [
                f"{line.value_date:%d/%m/%y}",
                line.narration,
                f"{line.value_date:%d/%m/%y}",
                debit,
                credit,
                line.reference,
                _rupees(balance),
            ]
        )
    return out.getvalue().encode()


def _mt940_amount(amount: int) -> str:
    return f"{amount // 100},{amount % 100:02d}"


def _mt940(plan: StatementPlan) -> bytes:
    opening_day = plan.period_start - timedelta(days=1)
    balances = _balances(plan)
    rows = [
        ":20:STMT" + plan.period_end.strftime("%Y%m%d"),
        f":25:HDFC0000001/{ACCOUNT_NUMBER}",
        ":28C:00001/001",
        f":60F:C{opening_day:%y%m%d}INR{_mt940_amount(OPENING_BALANCE)}",
    ]
    for line in plan.lines:
        mark = "C" if line.direction == "credit" else "D"
        amount = "2O,6O" if line.malformed else _mt940_amount(line.amount)
        rows.append(
            f":61:{line.value_date:%y%m%d%m%d}{mark}{amount}NTRF{line.reference}//{line.reference[-8:]}"
        )
        # SWIFT lines are at most 65 characters; wrapped at word boundaries, so a UTR stays whole.
        chunks = textwrap.wrap(line.narration, 65) or [""]
        rows.append(":86:" + chunks[0])
        rows.extend(chunks[1:6])
    closing = balances[-1] if balances else OPENING_BALANCE
    rows.append(f":62F:C{plan.period_end:%y%m%d}INR{_mt940_amount(closing)}")
    rows.append("-")
    return ("\n".join(rows) + "\n").encode()


def _camt053(plan: StatementPlan) -> bytes:
    entries = []
    for line in plan.lines:
        amount = "2O.6O" if line.malformed else _rupees(line.amount)
        indicator = "CRDT" if line.direction == "credit" else "DBIT"
        entries.append(
            "      <Ntry>\n"
            f'        <Amt Ccy="INR">{amount}</Amt>\n'
            f"        <CdtDbtInd>{indicator}</CdtDbtInd>\n"
            "        <Sts>BOOK</Sts>\n"
            f"        <BookgDt><Dt>{line.value_date.isoformat()}</Dt></BookgDt>\n"
            f"        <ValDt><Dt>{line.value_date.isoformat()}</Dt></ValDt>\n"
            f"        <AcctSvcrRef>{line.reference}</AcctSvcrRef>\n"
            "        <BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd>\n"
            "        <NtryDtls><TxDtls>\n"
            f"          <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>\n"
            f"          <RmtInf><Ustrd>{escape(line.narration)}</Ustrd></RmtInf>\n"
            "        </TxDtls></NtryDtls>\n"
            "      </Ntry>\n"
        )
    closing = _balances(plan)[-1] if plan.lines else OPENING_BALANCE
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">\n'
        "  <BkToCstmrStmt>\n"
        f"    <GrpHdr><MsgId>STMT{plan.period_end:%Y%m%d}</MsgId><CreDtTm>{plan.period_end.isoformat()}T23:59:59</CreDtTm></GrpHdr>\n"
        "    <Stmt>\n"
        f"      <Id>STMT{plan.period_end:%Y%m%d}</Id>\n"
        f"      <CreDtTm>{plan.period_end.isoformat()}T23:59:59</CreDtTm>\n"
        f"      <FrToDt><FrDtTm>{plan.period_start.isoformat()}T00:00:00</FrDtTm><ToDtTm>{plan.period_end.isoformat()}T23:59:59</ToDtTm></FrToDt>\n"
        f"      <Acct><Id><Othr><Id>{ACCOUNT_NUMBER}</Id></Othr></Id><Ccy>INR</Ccy></Acct>\n"
        f'      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="INR">{_rupees(OPENING_BALANCE)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{plan.period_start.isoformat()}</Dt></Dt></Bal>\n'
        f'      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="INR">{_rupees(closing)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{plan.period_end.isoformat()}</Dt></Dt></Bal>\n'
    )
    tail = "    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n"
    return (head + "".join(entries) + tail).encode()


def render_statement(plan: StatementPlan, fmt: str) -> bytes:
    if fmt == "csv":
        return _csv(plan)
    if fmt == "mt940":
        return _mt940(plan)
    if fmt == "camt053":
        return _camt053(plan)
    raise ValueError(f"unknown statement format {fmt!r}; choose from {', '.join(FORMATS)}")
