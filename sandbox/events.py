"""The webhook events of the history: one per state change, with deterministic `evt_` ids, and the
planned deliveries (with the planted delivery faults) that the sender replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox import catalogue as cat
from sandbox import disputes, render
from sandbox.generator import Dataset, hash_int, short_hash
from sandbox.tables import NEVER

# Rank breaks ties between events at the same second in the order they really happen.
EVENT_TYPES: tuple[str, ...] = (
    "payment.failed",
    "payment.authorized",
    "payment.captured",
    "order.paid",
    "refund.created",
    "refund.failed",
    "refund.processed",
    "settlement.processed",
    "payment.dispute.created",
    "payment.dispute.under_review",
    "payment.dispute.action_required",
    "payment.dispute.won",
    "payment.dispute.lost",
    "payment.dispute.closed",
    "payment.downtime.started",
    "payment.downtime.updated",
    "payment.downtime.resolved",
)


@dataclass(frozen=True)
class Event:
    at: int
    event_type: str
    index: int  # payment / order / refund / settlement / dispute / downtime index, by event type
    conflict: bool = False
    again: bool = False  # a repeat of the same event type for the entity (a dispute's second review)

    @property
    def rank(self) -> int:
        return EVENT_TYPES.index(self.event_type)


def family(event: Event) -> str:
    """payment | order | refund | settlement | dispute | downtime: which table `event.index` points into."""
    parts = event.event_type.split(".")
    if parts[0] == "payment" and parts[1] in ("dispute", "downtime"):
        return parts[1]
    return parts[0]


def entity_id(ds: Dataset, event: Event) -> str:
    family_name = family(event)
    if family_name == "dispute":
        return "disp_" + str(ds.disputes.id[event.index].decode())
    if family_name == "downtime":
        return str(ds.downtimes[event.index].id)
    if family_name == "payment":
        return "pay_" + str(ds.payments.id[event.index].decode())
    if family_name == "order":
        return "order_" + str(ds.orders.id[event.index].decode())
    if family_name == "refund":
        return "rfnd_" + str(ds.refunds.id[event.index].decode())
    return "setl_" + str(ds.settlements.id[event.index].decode())


def event_id(ds: Dataset, event: Event) -> str:
    tag = "conflict" if event.conflict else ("again" if event.again else "")
    return "evt_" + short_hash(ds.config.seed, entity_id(ds, event), event.event_type, tag)


def events_between(ds: Dataset, start: int, end: int) -> list[Event]:
    """Every event that happened in [start, end], oldest first."""
    p, o, r, s = ds.payments, ds.orders, ds.refunds, ds.settlements
    found: list[Event] = []

    def add(times: np.ndarray[Any, Any], event_type: str, extra: np.ndarray[Any, Any] | None = None) -> None:
        mask = (times != NEVER) & (times >= start) & (times <= end)
        if extra is not None:
            mask &= extra
        for index in np.flatnonzero(mask).tolist():
            found.append(Event(int(times[index]), event_type, index))

    add(p.authorized, "payment.authorized")
    add(p.captured, "payment.captured")
    add(p.failed, "payment.failed")
    # order.paid follows a capture; a planted paid-without-capture order never had one.
    add(ds.order_paid_at, "order.paid", o.paid_override == NEVER)
    add(r.created, "refund.created")
    add(r.processed, "refund.processed")
    add(r.failed, "refund.failed")
    add(s.created, "settlement.processed")
    d = ds.disputes
    add(d.created, "payment.dispute.created")
    add(d.reviewed, "payment.dispute.under_review")
    add(d.action_required, "payment.dispute.action_required")
    for outcome, name in enumerate(cat.DISPUTE_OUTCOMES):
        add(d.resolved, f"payment.dispute.{name}", d.outcome == outcome)
    for index, downtime in enumerate(ds.downtimes):
        for at, event_type in (
            (downtime.created, "payment.downtime.started"),
            (downtime.updated, "payment.downtime.updated"),
            (downtime.end, "payment.downtime.resolved"),
        ):
            if start <= at <= end:
                found.append(Event(at, event_type, index))
    for payment_index, at, event_type in ds.conflict_events:
        if start <= at <= end:
            found.append(Event(at, event_type, payment_index, conflict=True))
    # The second review of a dispute (evidence resubmitted) is another under_review event.
    for index in np.flatnonzero(
        (d.reviewed_again != NEVER) & (d.reviewed_again >= start) & (d.reviewed_again <= end)
    ).tolist():
        found.append(Event(int(d.reviewed_again[index]), "payment.dispute.under_review", index, again=True))
    found.sort(key=lambda e: (e.at, e.rank, e.index))
    return found


def related_ids(ds: Dataset, event: Event) -> dict[str, str | None]:
    """The ids an event touches, for the manifest."""
    ids: dict[str, str | None] = {
        "payment_id": None,
        "order_id": None,
        "refund_id": None,
        "settlement_id": None,
    }
    family_name = family(event)
    payment_index: int | None = None
    if family_name == "dispute":
        payment_index = int(ds.disputes.payment[event.index])
    elif family_name == "downtime":
        pass
    elif family_name == "payment":
        payment_index = event.index
    elif family_name == "order":
        ids["order_id"] = "order_" + ds.orders.id[event.index].decode()
        payment_index = _capturing_payment(ds, event.index)
    elif family_name == "refund":
        ids["refund_id"] = "rfnd_" + ds.refunds.id[event.index].decode()
        payment_index = int(ds.refunds.payment[event.index])
    else:
        ids["settlement_id"] = "setl_" + ds.settlements.id[event.index].decode()
    if payment_index is not None:
        ids["payment_id"] = "pay_" + ds.payments.id[payment_index].decode()
        order = int(ds.payments.order[payment_index])
        if order != NEVER:
            ids["order_id"] = "order_" + ds.orders.id[order].decode()
    return ids


def _capturing_payment(ds: Dataset, order: int) -> int | None:
    paid_at = int(ds.order_paid_at[order])
    for index in ds.payments_of_order(order).tolist():
        if int(ds.payments.captured[index]) == paid_at:
            return int(index)
    return None


def envelope(ds: Dataset, event: Event) -> dict[str, Any]:
    """The Razorpay webhook body without `created_at` (the sender stamps it when it sends)."""
    at = event.at
    family_name = family(event)
    payload: dict[str, Any] = {}
    contains: list[str]
    if family_name == "dispute":
        payment_index = int(ds.disputes.payment[event.index])
        payload["payment"] = {"entity": render.payment(ds, payment_index, at)}
        payload["dispute"] = {"entity": disputes.render(ds, event.index, at)}
        contains = ["payment", "dispute"]
    elif family_name == "downtime":
        payload["payment.downtime"] = {"entity": ds.downtimes[event.index].render(at)}
        contains = ["payment.downtime"]
    elif family_name == "payment":
        status = "failed" if event.conflict else None
        snapshot = render.payment(ds, event.index, at, status=status)
        if event.conflict:
            # The contradicting event reports a failure for a payment the API shows as captured.
            snapshot.update(
                captured=False,
                fee=None,
                tax=None,
                error_code="BAD_REQUEST_ERROR",
                error_description="Payment failed because of a technical error at the bank.",
                error_source="bank",
                error_step="payment_authorization",
                error_reason="bank_technical_error",
            )
        payload["payment"] = {"entity": snapshot}
        contains = ["payment"]
    elif family_name == "order":
        capturing = _capturing_payment(ds, event.index)
        if capturing is not None:
            payload["payment"] = {"entity": render.payment(ds, capturing, at)}
        payload["order"] = {"entity": render.order(ds, event.index, at)}
        contains = ["payment", "order"] if capturing is not None else ["order"]
    elif family_name == "refund":
        payload["refund"] = {"entity": render.refund(ds, event.index, at)}
        payload["payment"] = {"entity": render.payment(ds, int(ds.refunds.payment[event.index]), at)}
        contains = ["refund", "payment"]
    else:
        payload["settlement"] = {"entity": render.settlement(ds, event.index)}
        contains = ["settlement"]
    return {
        "entity": "event",
        "account_id": "acc_" + short_hash(ds.config.seed, "account"),
        "event": event.event_type,
        "contains": contains,
        "payload": payload,
        "created_at": None,
    }


def natural_latency_ms(event_identifier: str) -> int:
    """Between 0.2 and 3 s, fixed per event."""
    return 200 + hash_int("latency", event_identifier) % 2800


def late_latency_ms(event_identifier: str) -> int:
    """Between 15 and 45 minutes."""
    return 15 * 60_000 + hash_int("late", event_identifier) % (30 * 60_000)


def planned_deliveries(ds: Dataset, since: int, limit: int) -> list[dict[str, Any]]:
    """Deliveries for events in [since, now], in sending order, each with its planted fault (if any).

    An out-of-order pair is listed newer first; `pair` on the older one names the newer event, whose
    envelope `created_at` it must precede.
    """
    events = events_between(ds, since, ds.now)
    deliveries: list[dict[str, Any]] = []
    held: dict[str, dict[str, Any]] = {}
    for event in events:
        identifier = event_id(ds, event)
        fault = ds.webhook_faults.get(identifier)
        kind = fault["kind"] if fault else None
        delivery = {
            "event_id": identifier,
            "event": event.event_type,
            "occurred_at": event.at,
            "fault": kind,
            "repeat": int(fault.get("repeat", 1)) if fault else 1,
            "latency_ms": late_latency_ms(identifier) if kind == "late" else natural_latency_ms(identifier),
            "pair": fault.get("pair") if fault else None,
            "body": envelope(ds, event),
        }
        if kind == "out_of_order" and delivery["pair"]:
            # The older event waits until its newer partner has been listed.
            held[str(delivery["pair"])] = delivery
            continue
        deliveries.append(delivery)
        if identifier in held:
            deliveries.append(held.pop(identifier))
    deliveries.extend(held.values())
    return deliveries[:limit]
