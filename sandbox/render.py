"""Turns one row of the columnar tables into the JSON object Razorpay would return at a given moment.

Objects are built lazily, per request, from the entity's timeline: the same payment renders as
`authorized` in an early webhook snapshot and as `refunded` in today's API response.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox import catalogue as cat
from sandbox.generator import Dataset, hash_int
from sandbox.tables import NEVER

_CARD_TYPES = cat.CARD_TYPES
_INR = cat.CURRENCIES.index(cat.BASE_CURRENCY)


def _contact(country: int, customer: int) -> str:
    prefixes, digits = cat.PHONE_SHAPES[country]
    mixed = (customer * 2_654_435_761 + country * 97) % (10**digits)
    prefix = prefixes[customer % len(prefixes)]
    return f"+{cat.CALLING_CODES[country]}{prefix}{mixed:0{digits}d}"


def _email(customer: int) -> str:
    name = cat.FIRST_NAMES[customer % len(cat.FIRST_NAMES)]
    domain = cat.EMAIL_DOMAINS[(customer // 7) % len(cat.EMAIL_DOMAINS)]
    return f"{name}.{customer}@{domain}"


def payment(ds: Dataset, i: int, at: int, *, card: bool = True, status: str | None = None) -> dict[str, Any]:
    entity = payments(ds, [i], at, card=card)[0]
    if status is not None:
        entity["status"] = status
    return entity


_PAYMENT_COLUMNS = (
    "id", "order", "created", "authorized", "captured", "failed", "amount", "currency", "country",
    "international", "method", "network", "card_type", "issuer", "bank", "wallet", "upi_flow", "upi_handle",
    "upi_payer", "failure", "customer", "last4", "fee", "tax", "notes_country", "empty_error_code", "refund",
    "base_amount",
)  # fmt: skip


def payments(ds: Dataset, indices: list[int], at: int, *, card: bool = True) -> list[dict[str, Any]]:
    """The payment objects at time `at`, a page at a time: columns are sliced once per page, not per field."""
    if not indices:
        return []
    index = np.asarray(indices, dtype=np.int64)
    p = ds.payments
    col = {name: getattr(p, name)[index].tolist() for name in _PAYMENT_COLUMNS}
    refund_index = np.maximum(p.refund[index], 0)
    r = ds.refunds
    if len(r):
        refund_created = np.where(p.refund[index] != NEVER, r.created[refund_index], NEVER)
        refund_failed = np.where(p.refund[index] != NEVER, r.failed[refund_index], NEVER)
        refund_amount = np.where(p.refund[index] != NEVER, r.amount[refund_index], 0)
    else:
        refund_created = refund_failed = np.full(len(index), NEVER)
        refund_amount = np.zeros(len(index), dtype=np.int64)
    # A refund shows on its payment from its creation, unless it is one that fails: those never do, so
    # a payment only ever moves forward (captured -> refunded), as webhook receivers expect.
    counts = (refund_created != NEVER) & (refund_created <= at) & (refund_failed == NEVER)
    refunded_amount = np.where(counts, refund_amount, 0).tolist()
    order_ids = ds.orders.id[np.maximum(p.order[index], 0)].tolist() if len(ds.orders) else [b""] * len(index)
    receipts = (
        ds.orders.receipt[np.maximum(p.order[index], 0)].tolist() if len(ds.orders) else [0] * len(index)
    )
    result = []
    names, handles, methods, currencies = cat.FIRST_NAMES, cat.UPI_HANDLES, cat.METHODS, cat.CURRENCIES
    columns = [col[name] for name in _PAYMENT_COLUMNS]
    for (
        raw, order, created, authorized_at, captured_at, failed_at, amount, currency, country, international,
        method_index, network, card_type, issuer, bank, wallet, upi_flow, handle, upi_payer, failure, customer,
        last4, fee, tax, notes_country, empty_error_code, _refund, base_amount,
    ), refunded_now, order_id, receipt in zip(zip(*columns, strict=True), refunded_amount, order_ids, receipts, strict=True):  # fmt: skip
        refunded = 0
        if captured_at != NEVER and at >= captured_at:
            refunded = refunded_now
            status = "refunded" if refunded >= amount else "captured"
        elif authorized_at != NEVER and at >= authorized_at:
            status = "authorized"
        elif failed_at != NEVER and at >= failed_at:
            status = "failed"
        else:
            status = "created"
        method = methods[method_index]
        has_order = order != NEVER
        is_captured = status == "captured" or status == "refunded"
        error = cat.FAILURES[failure] if status == "failed" and failure >= 0 else None
        vpa = f"{names[customer % len(names)]}{customer % 1000}@{handles[handle]}" if handle >= 0 else None
        acquirer: dict[str, Any] = {}
        if status != "failed" and status != "created":
            # Reference numbers derived from the id bytes: deterministic and cheap.
            number = int.from_bytes(raw, "big")
            if method_index == cat.M_UPI:
                acquirer = {"rrn": f"{number % 10**12:012d}", "upi_transaction_id": raw.hex().upper()}
            elif network >= 0:
                acquirer = {"auth_code": f"{number % 10**6:06d}"}
            elif method_index == cat.M_NETBANKING:
                acquirer = {"bank_transaction_id": str(number % 10**10)}
        card_id = "card_" + raw[::-1].decode() if network >= 0 else None
        entity: dict[str, Any] = {
            "id": "pay_" + raw.decode(),
            "entity": "payment",
            "amount": amount,
            "currency": currencies[currency],
            "status": status,
            "order_id": "order_" + order_id.decode() if has_order else None,
            "invoice_id": None,
            "international": international,
            "method": method,
            "amount_refunded": refunded,
            "refund_status": None if refunded == 0 else ("full" if refunded >= amount else "partial"),
            "captured": is_captured,
            "description": f"Order #{receipt}" if has_order else "Payment",
            "card_id": card_id,
            "bank": cat.BANKS[bank] if bank >= 0 else None,
            "wallet": (
                cat.PAYLATER_PROVIDERS[wallet] if method_index == cat.M_PAYLATER else cat.WALLETS[wallet]
            )
            if wallet >= 0
            else None,
            "vpa": vpa,
            "email": _email(customer),
            "contact": _contact(country, customer),
            "notes": {"country": cat.COUNTRIES[country]} if notes_country else [],
            "fee": fee if is_captured else None,
            "tax": tax if is_captured else None,
            "error_code": error.code if error else ("" if empty_error_code else None),
            "error_description": error.description if error else None,
            "error_source": error.source if error else None,
            "error_step": error.step if error else None,
            "error_reason": error.reason if error else None,
            "acquirer_data": acquirer,
            "created_at": created,
        }
        if currency != _INR:
            # Razorpay adds the conversion to INR when the customer paid in another currency.
            entity["base_amount"] = base_amount
            entity["base_currency"] = cat.BASE_CURRENCY
        if handle >= 0:
            entity["upi"] = {
                "payer_account_type": cat.UPI_PAYER_ACCOUNT_TYPES[upi_payer],
                "vpa": vpa,
                "flow": cat.UPI_FLOWS[upi_flow],
            }
        if card and network >= 0:
            entity["card"] = {
                "id": card_id,
                "entity": "card",
                "name": "",
                "last4": f"{last4 % 10_000:04d}",
                "network": cat.NETWORKS[network],
                "type": _CARD_TYPES[card_type],
                "issuer": cat.BANKS[issuer] if issuer >= 0 else None,
                "international": international,
                "emi": method_index == cat.M_EMI,
                "sub_type": "consumer",
                "token_iin": None,
            }
        result.append(entity)
    return result


def order(ds: Dataset, k: int, at: int) -> dict[str, Any]:
    o = ds.orders
    amount = int(o.amount[k])
    paid_at = int(ds.order_paid_at[k])
    attempts = sum(1 for i in ds.payments_of_order(k).tolist() if int(ds.payments.created[i]) <= at)
    paid = paid_at != NEVER and at >= paid_at
    status = "paid" if paid else ("attempted" if attempts else "created")
    return {
        "id": "order_" + o.id[k].decode(),
        "entity": "order",
        "amount": amount,
        "amount_paid": amount if paid else 0,
        "amount_due": 0 if paid else amount,
        "currency": cat.CURRENCIES[int(o.currency[k])],
        "receipt": f"rcpt_{int(o.receipt[k])}",
        "offer_id": None,
        "status": status,
        "attempts": attempts,
        "notes": {"country": cat.COUNTRIES[int(o.country[k])]} if bool(o.notes_country[k]) else [],
        "created_at": int(o.created[k]),
    }


def refund_status(ds: Dataset, j: int, at: int) -> str:
    r = ds.refunds
    processed = int(r.processed[j])
    failed = int(r.failed[j])
    if processed != NEVER and at >= processed:
        return "processed"
    if failed != NEVER and at >= failed:
        return "failed"
    return "pending"


def refund(ds: Dataset, j: int, at: int) -> dict[str, Any]:
    r = ds.refunds
    rid = "rfnd_" + r.id[j].decode()
    pay = int(r.payment[j])
    status = refund_status(ds, j, at)
    return {
        "id": rid,
        "entity": "refund",
        "amount": int(r.amount[j]),
        "currency": cat.CURRENCIES[int(ds.payments.currency[pay])],
        "payment_id": "pay_" + ds.payments.id[pay].decode(),
        "notes": [],
        "receipt": None,
        "acquirer_data": {"arn": str(hash_int("arn", rid) % 10**23).zfill(23)}
        if status == "processed"
        else {"arn": None},
        "created_at": int(r.created[j]),
        "batch_id": None,
        "status": status,
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def settlement(ds: Dataset, k: int) -> dict[str, Any]:
    s = ds.settlements
    return {
        "id": "setl_" + s.id[k].decode(),
        "entity": "settlement",
        "amount": int(s.amount[k]),
        "status": "processed",
        "fees": int(s.fees[k]),
        "tax": int(s.tax[k]),
        "utr": s.utr[k].decode(),
        "currency": cat.CURRENCIES[int(s.currency[k])],
        "created_at": int(s.created[k]),
    }


def settlement_line(ds: Dataset, n: int) -> dict[str, Any]:
    """A recon line. Every line is in INR, the base currency: an international payment's line carries
    its base amount, and a lost dispute's deduction is an `adjustment` debit naming the dispute."""
    line = ds.lines
    p = ds.payments
    k = int(line.settlement[n])
    ref = int(line.ref[n])
    kind = int(line.kind[n])
    dispute_id = None
    if kind == 0:
        pay = ref
        entity_id = "pay_" + p.id[ref].decode()
    elif kind == 1:
        pay = int(ds.refunds.payment[ref])
        entity_id = "rfnd_" + ds.refunds.id[ref].decode()
    else:
        pay = int(ds.disputes.payment[ref])
        entity_id = "adj_" + ds.disputes.id[ref].decode()[::-1]
        dispute_id = "disp_" + ds.disputes.id[ref].decode()
    amount = int(line.amount[n])
    fee = int(line.fee[n])
    order_index = int(p.order[pay])
    network = int(p.network[pay])
    issuer = int(p.issuer[pay])
    settled_at = int(ds.settlements.created[k])
    return {
        "entity_id": entity_id,
        "type": ("payment", "refund", "adjustment")[kind],
        "debit": 0 if kind == 0 else amount,
        "credit": amount - fee if kind == 0 else 0,
        "amount": amount,
        "currency": cat.BASE_CURRENCY,
        "fee": fee,
        "tax": int(line.tax[n]),
        "on_hold": False,
        "settled": True,
        "created_at": int(line.created[n]),
        "settled_at": settled_at,
        "settlement_id": "setl_" + ds.settlements.id[k].decode(),
        "posted_at": settled_at,
        "credit_type": "default",
        "description": "Dispute lost: amount deducted" if kind == 2 else "",
        "notes": [],
        "payment_id": "pay_" + p.id[pay].decode(),
        "settlement_utr": ds.settlements.utr[k].decode(),
        "order_id": "order_" + ds.orders.id[order_index].decode() if order_index != NEVER else None,
        "order_receipt": f"rcpt_{int(ds.orders.receipt[order_index])}" if order_index != NEVER else None,
        "method": cat.METHODS[int(p.method[pay])],
        "card_network": cat.NETWORKS[network] if network >= 0 else None,
        "card_issuer": cat.BANKS[issuer] if issuer >= 0 else None,
        "card_type": _CARD_TYPES[int(p.card_type[pay])] if network >= 0 else None,
        "dispute_id": dispute_id,
    }
