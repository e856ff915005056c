"""What a verified event means for the database: its webhook_events row, the entity rows its payload
snapshots become, and the forward-only rules that keep an older or lesser snapshot from winning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, or_

from data.models import Base, Dispute, Downtime, Order, Payment, Refund, Settlement
from data.vocabulary import CAPTURED_STATUSES, STATUS_RANK
from sync import normalise
from sync.webhooks.intake import Delivery

# The events whose payload entities are applied; any other type is stored with known_type=false.
KNOWN_EVENT_TYPES = frozenset(
    {
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "order.paid",
        "refund.created",
        "refund.processed",
        "refund.failed",
        # Instant refund fell back to normal speed: the payload's refund snapshot says which.
        "refund.speed_changed",
        "settlement.processed",
        "payment.dispute.created",
        "payment.dispute.won",
        "payment.dispute.lost",
        "payment.dispute.closed",
        "payment.dispute.under_review",
        "payment.dispute.action_required",
        "payment.downtime.started",
        "payment.downtime.updated",
        "payment.downtime.resolved",
    }
)

# The payload key of each entity. Downtimes arrive as `payload["payment.downtime"]`, with the dot.
PAYLOAD_KEYS: dict[str, str] = {
    "payment": "payment",
    "order": "order",
    "refund": "refund",
    "settlement": "settlement",
    "dispute": "dispute",
    "downtime": "payment.downtime",
}

ENTITY_MODELS: dict[str, type[Base]] = {
    "payment": Payment,
    "order": Order,
    "refund": Refund,
    "settlement": Settlement,
    "dispute": Dispute,
    "downtime": Downtime,
}

# A status may only move to one of equal or higher rank (data.vocabulary.STATUS_RANK says why each sits where).

# Counters that only grow during an entity's life: between two snapshots of the same status, the one
# with more refunded (payment) or paid (order) is the later one, whatever the timestamps say.
_PROGRESS_COUNTER: dict[str, str] = {"payment": "amount_refunded", "order": "amount_paid"}

# The one way back: a refund that fails returns its amount, so a refund.failed event's payment
# snapshot may lower amount_refunded and move refunded back to captured, if it is newer.
REFUND_REVERSAL_EVENT = "refund.failed"
_REVERSIBLE_PAYMENT_STATUSES = CAPTURED_STATUSES

OnlyIf = Callable[[Table, Any], ColumnElement[bool]]


@cache
def forward_only(entity: str) -> OnlyIf:
    """The `only_if` for `data.upsert.upsert`, deciding whether an incoming snapshot replaces the row.

    Snapshots are ordered by the entity's life: status rank first, then its only-growing counter
    (payments: amount_refunded, orders: amount_paid), then state_at (newer wins; equal replaces, so a
    replay is idempotent). A later stage of life always wins, even when its timestamp is older (a
    late delivery, or Razorpay's clock against ours for rows the API sync wrote); an earlier stage
    never does. One function per entity, so upsert can reuse the statement built with it.
    """
    ranks = STATUS_RANK[entity]
    counter = _PROGRESS_COUNTER.get(entity)

    def condition(table: Table, excluded: Any) -> ColumnElement[bool]:
        incoming_rank = case(ranks, value=excluded.status, else_=0)
        stored_rank = case(ranks, value=table.c.status, else_=0)
        not_older = excluded.state_at >= table.c.state_at
        same_stage: ColumnElement[bool] = not_older
        if counter is not None:
            same_stage = or_(
                excluded[counter] > table.c[counter],
                and_(excluded[counter] == table.c[counter], not_older),
            )
        return or_(incoming_rank > stored_rank, and_(incoming_rank == stored_rank, same_stage))

    return condition


@cache
def refund_reversal() -> OnlyIf:
    """The `only_if` for a payment snapshot carried by a refund.failed event: the forward rule, or a
    newer snapshot that takes a refund back (refunded → captured, or a lower amount_refunded)."""
    forward = forward_only("payment")

    def condition(table: Table, excluded: Any) -> ColumnElement[bool]:
        return or_(
            forward(table, excluded),
            and_(
                excluded.state_at > table.c.state_at,
                _one_of(excluded.status, _REVERSIBLE_PAYMENT_STATUSES),
                _one_of(table.c.status, _REVERSIBLE_PAYMENT_STATUSES),
            ),
        )

    return condition


def _one_of(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    # Not `in_`: an IN list is an expanding parameter, which SQLAlchemy refuses in an executemany, and
    # a batch may carry several refund.failed snapshots.
    return or_(*(column == value for value in values))


def rule_for(entity: str, event_type: str) -> OnlyIf:
    if entity == "payment" and event_type == REFUND_REVERSAL_EVENT:
        return refund_reversal()
    return forward_only(entity)


@dataclass(slots=True)
class EntityFailure:
    entity: str
    raw: Mapping[str, Any]
    reason: str


@dataclass(slots=True)
class EventPlan:
    """One new event: its webhook_events row and the entity rows to upsert (in payload order)."""

    event_row: dict[str, Any]
    entity_rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[EntityFailure] = field(default_factory=list)

    @property
    def payment_created_at(self) -> list[datetime]:
        return [row["created_at"] for entity, row in self.entity_rows if entity == "payment"]


def plan_event(delivery: Delivery, *, country_notes_key: str) -> EventPlan:
    """Normalise the payload's entities; a record that cannot be normalised is set aside with its reason."""
    payload = delivery.payload.get("payload")
    entities = _payload_entities(payload if isinstance(payload, dict) else {})
    known = delivery.event_type in KNOWN_EVENT_TYPES
    primary = primary_entity(delivery.event_type)
    plan = EventPlan(event_row=_event_row(delivery, entities, known=known, primary=primary))
    if not known:
        return plan
    errors: list[str] = []
    if primary not in entities:
        errors.append(f"payload has no {primary} entity")
    for entity, snapshot in entities.items():
        try:
            row = _normalise(entity, snapshot, delivery.created_at, country_notes_key)
        except Exception as error:  # any unparseable record is quarantined, never allowed to stop the event
            reason = _reason(error)
            plan.failures.append(EntityFailure(entity, snapshot, reason))
            errors.append(f"{entity}: {reason}")
        else:
            plan.entity_rows.append((entity, row))
    plan.event_row["applied"] = not errors
    plan.event_row["apply_error"] = "; ".join(errors)[:2000] if errors else None
    return plan


def primary_entity(event_type: str) -> str:
    """The entity an event is about: "dispute" for payment.dispute.*, "downtime" for payment.downtime.*,
    else the first part of the name (payment.captured -> payment)."""
    family, _, rest = event_type.partition(".")
    if family == "payment" and rest.split(".", 1)[0] in ("dispute", "downtime") and "." in rest:
        return rest.split(".", 1)[0]
    return family


def _normalise(
    entity: str, snapshot: Mapping[str, Any], state_at: datetime, notes_key: str
) -> dict[str, Any]:
    if entity == "payment":
        return normalise.normalise_payment(
            snapshot, state_at=state_at, source="webhook", country_notes_key=notes_key
        )
    if entity == "order":
        return normalise.normalise_order(snapshot, state_at=state_at, source="webhook")
    if entity == "refund":
        return normalise.normalise_refund(snapshot, state_at=state_at, source="webhook")
    if entity == "dispute":
        return normalise.normalise_dispute(snapshot, state_at=state_at, source="webhook")
    if entity == "downtime":
        return normalise.normalise_downtime(snapshot, state_at=state_at, source="webhook")
    return normalise.normalise_settlement(snapshot, state_at=state_at, source="webhook")


def _reason(error: Exception) -> str:
    if isinstance(error, normalise.NormaliseError):
        return str(error.reason) if hasattr(error, "reason") else str(error)
    return f"{type(error).__name__}: {error}"[:500]


def _payload_entities(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{"payment": {...}, "order": {...}} from Razorpay's `payload.<entity>.entity` nesting."""
    found: dict[str, dict[str, Any]] = {}
    for entity in ENTITY_MODELS:
        wrapper = payload.get(PAYLOAD_KEYS[entity])
        snapshot = wrapper.get("entity") if isinstance(wrapper, dict) else None
        if isinstance(snapshot, dict):
            found[entity] = snapshot
    return found


def _short_id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 40 and "\x00" not in value else None


def _event_row(
    delivery: Delivery, entities: Mapping[str, Mapping[str, Any]], *, known: bool, primary: str
) -> dict[str, Any]:
    ids = {f"{entity}_id": _short_id(snapshot.get("id")) for entity, snapshot in entities.items()}
    # The related ids a snapshot names link an event to its payment/order even when the payload
    # carries only a refund (refund.payment_id) or only a payment (payment.order_id).
    for carrier in ("refund", "dispute"):
        if ids.get("payment_id") is None and carrier in entities:
            ids["payment_id"] = _short_id(entities[carrier].get("payment_id"))
    if ids.get("order_id") is None and "payment" in entities:
        ids["order_id"] = _short_id(entities["payment"].get("order_id"))
    status = entities.get(primary, {}).get("status")
    lag = delivery.lag
    return {
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "known_type": known,
        "account_id": delivery.account_id,
        "created_at": delivery.created_at,
        "received_at": delivery.received_at,
        "sent_at": delivery.sent_at,
        "last_received_at": delivery.received_at,
        "delivery_count": 1,
        "lag_ms": lag // timedelta(milliseconds=1),  # exact: timedelta holds whole microseconds
        "payment_id": ids.get("payment_id"),
        "order_id": ids.get("order_id"),
        "refund_id": ids.get("refund_id"),
        "settlement_id": ids.get("settlement_id"),
        "entity_status": status if isinstance(status, str) and len(status) <= 16 else None,
        "applied": False,
        "apply_error": None,
        "payload": _scrubbed(delivery.payload),
        "body_sha256": delivery.body_sha256 or None,
        "interpretation": "; ".join(delivery.interpretation)[:4000] if delivery.interpretation else None,
        "conflict_count": 0,
    }


def _scrubbed(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope as stored: a payment snapshot loses its full VPA and extra card fields, as in `payments.raw`."""
    payload = envelope.get("payload")
    wrapper = payload.get("payment") if isinstance(payload, dict) else None
    snapshot = wrapper.get("entity") if isinstance(wrapper, dict) else None
    if not isinstance(snapshot, dict):
        return envelope
    assert isinstance(payload, dict) and isinstance(wrapper, dict)
    return {
        **envelope,
        "payload": {**payload, "payment": {**wrapper, "entity": normalise.scrub_payment_raw(snapshot)}},
    }
