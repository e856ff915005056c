"""Columnar tables: one numpy array per field, so a million entities are a few dozen arrays, not dicts.

Every entity carries its whole timeline (created, authorised, captured, failed, refunded, processed
times; -1 = never); what the API shows at a moment is derived from it when a request asks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
SmallArray = npt.NDArray[np.int16]
BoolArray = npt.NDArray[np.bool_]
IdArray = npt.NDArray[np.bytes_]

NEVER = -1
ID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
ID_LENGTH = 14


def random_ids(rng: np.random.Generator, n: int) -> IdArray:
    """n Razorpay-style 14-character base62 ids (without the `pay_` style prefix)."""
    codes = ID_ALPHABET[rng.integers(0, len(ID_ALPHABET), size=(n, ID_LENGTH), dtype=np.uint8)]
    return np.ascontiguousarray(codes).view(f"S{ID_LENGTH}").reshape(n)


@dataclasses.dataclass
class Table:
    """Base for the columnar tables: every field is a 1-D array of the same length."""

    def __len__(self) -> int:
        first = dataclasses.fields(self)[0]
        return len(getattr(self, first.name))

    @classmethod
    def empty(cls) -> Self:
        """A zero-length table (a placeholder until the real one is built)."""
        return cls(**{f.name: np.zeros(0, dtype=np.int64) for f in dataclasses.fields(cls)})

    def take(self, index: npt.NDArray[Any]) -> Self:
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def concat(self, other: Self) -> Self:
        return type(self)(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in dataclasses.fields(self)
            }
        )


@dataclasses.dataclass
class Payments(Table):
    id: IdArray
    order: IntArray  # index into Orders, NEVER when the payment has no order
    attempt: SmallArray
    created: IntArray
    authorized: IntArray
    captured: IntArray
    failed: IntArray
    amount: IntArray  # in the customer's currency
    currency: SmallArray
    base_amount: IntArray  # what the merchant is credited, in INR (= amount for INR payments)
    country: SmallArray
    international: BoolArray
    method: SmallArray
    network: SmallArray  # -1 unless card/emi
    card_type: SmallArray
    issuer: SmallArray  # bank index of the card issuer, -1 for international cards
    bank: SmallArray  # netbanking bank
    wallet: SmallArray  # wallet index (wallet) or pay-later provider index (paylater)
    upi_flow: SmallArray
    upi_handle: SmallArray
    upi_payer: SmallArray
    failure: SmallArray  # index into catalogue.FAILURES, -1 when the payment never failed
    customer: IntArray
    last4: SmallArray
    fee: IntArray  # Razorpay's fee including GST, charged on capture, in INR (on base_amount)
    tax: IntArray  # the GST part of fee
    notes_country: BoolArray
    empty_error_code: BoolArray  # quirk: error_code "" instead of null on a payment without error
    refund: IntArray  # index into Refunds, NEVER if none
    planted: BoolArray  # part of a planted anomaly: kept out of every other random choice
    unsettled: BoolArray  # planted captured_not_settled
    line_amount_delta: IntArray  # planted settlement_line_amount_mismatch (amount side)
    line_fee_delta: IntArray  # planted settlement_line_amount_mismatch (fee side)


@dataclasses.dataclass
class Orders(Table):
    id: IdArray
    created: IntArray
    amount: IntArray
    currency: SmallArray
    receipt: IntArray
    notes_country: BoolArray
    country: SmallArray
    paid_override: IntArray  # planted order_paid_without_capture: when it turned `paid`, else NEVER


@dataclasses.dataclass
class Refunds(Table):
    id: IdArray
    payment: IntArray
    created: IntArray
    processed: IntArray
    failed: IntArray
    amount: IntArray
    undebited: BoolArray  # planted refund_not_debited


@dataclasses.dataclass
class Settlements(Table):
    id: IdArray
    created: IntArray
    currency: SmallArray
    amount: IntArray
    fees: IntArray
    tax: IntArray
    utr: IdArray
    line_start: IntArray  # lines of settlement k are lines[line_start[k]:line_start[k + 1]]
    line_end: IntArray


@dataclasses.dataclass
class Disputes(Table):
    """Disputes, ordered by (created, id). Each stage time is NEVER when the dispute never reaches it."""

    id: IdArray
    payment: IntArray
    created: IntArray  # open
    respond_by: IntArray
    reviewed: IntArray  # under_review (evidence submitted)
    action_required: IntArray  # evidence found insufficient
    reviewed_again: IntArray  # evidence resubmitted
    resolved: IntArray  # won / lost / closed
    outcome: SmallArray  # index into catalogue.DISPUTE_OUTCOMES
    amount: IntArray
    phase: SmallArray
    reason: SmallArray


@dataclasses.dataclass
class Lines(Table):
    """Recon lines, grouped by settlement, each group ordered by (created desc, entity id desc)."""

    kind: SmallArray  # 0 payment, 1 refund, 2 adjustment (a lost dispute's deduction)
    ref: IntArray  # payment, refund or dispute index
    settlement: IntArray
    created: IntArray
    amount: IntArray
    fee: IntArray
    tax: IntArray


@dataclass
class Downtime:
    """A planted outage (see sandbox.downtimes): a handful per data set, so plain objects, not columns."""

    id: str
    method: str
    instrument: dict[str, str]
    severity: str
    begin: int
    end: int
    created: int
    updated: int  # when the severity was raised (payment.downtime.updated)
    payments: int = 0  # payments of the instrument created during the outage
    failed_by_outage: list[str] = field(default_factory=list)

    def status(self, at: int) -> str:
        return "resolved" if at >= self.end else "started"

    def render(self, at: int) -> dict[str, Any]:
        """The payment.downtime entity at time `at`: started with a lower severity until it is raised."""
        severity = self.severity if at >= self.updated else "low"
        return {
            "id": self.id,
            "entity": "payment.downtime",
            "method": self.method,
            "begin": self.begin,
            "end": self.end if at >= self.end else None,
            "status": self.status(at),
            "scheduled": False,
            "severity": severity,
            "instrument": dict(self.instrument),
            "instrument_schema": list(self.instrument),
            "created_at": self.created,
            "updated_at": self.end
            if at >= self.end
            else (self.updated if at >= self.updated else self.created),
        }

    def manifest(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "instrument": self.instrument,
            "severity": self.severity,
            "begin": self.begin,
            "end": self.end,
            "payments": self.payments,
            "failed_by_outage": len(self.failed_by_outage),
            "payment_ids": self.failed_by_outage,
        }
