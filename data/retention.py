"""Retention of personal data: after N days a payment keeps every amount, id, status and the dimensions
its aggregates use, and loses the person (email, phone, notes, the name on a card or account).

The purge rewrites rows in place (typed columns and the stored raw JSON, and the payloads of the
webhook events about them), writes one audit_log row per run, and is idempotent: a second run over
the same data changes nothing and says so. Rollups never hold personal fields, so they are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, update

from data.audit import record_audit
from data.models import Order, Payment, WebhookEvent, WebhookRejection
from data.upsert import table_of

__all__ = [
    "PERSONAL_FIELDS",
    "PurgeResult",
    "purge_old_rejections",
    "purge_personal_data",
    "without_personal_fields",
]

# Keys of an API entity that identify a person. `notes` is the merchant's free text (names,
# addresses); the country payops derived from it is already in its own column.
PERSONAL_FIELDS = frozenset(
    {"email", "contact", "notes", "name", "customer_id", "token_id", "billing_address", "shipping_address"}
)
_NESTED_PERSONAL = {"card": {"name"}, "bank_account": {"name", "account_number", "ifsc"}, "upi": {"vpa"}}
_BATCH = 1000
_PAYMENTS = table_of(Payment)
_ORDERS = table_of(Order)
_EVENTS = table_of(WebhookEvent)
PURGE_ACTION = "purge_pii"
REJECTIONS_ACTION = "purge_rejections"


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    payments: int
    orders: int
    webhook_events: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "payments": self.payments,
            "orders": self.orders,
            "webhook_events": self.webhook_events,
        }


def without_personal_fields(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity with its personal fields removed (nested card/bank account/UPI names too)."""
    cleaned = {key: value for key, value in entity.items() if key not in PERSONAL_FIELDS}
    for key, fields in _NESTED_PERSONAL.items():
        nested = cleaned.get(key)
        if isinstance(nested, Mapping):
            cleaned[key] = {name: value for name, value in nested.items() if name not in fields}
    return cleaned


def _envelope_without_personal_fields(envelope: Mapping[str, Any]) -> dict[str, Any]:
    payload = envelope.get("payload")
    if not isinstance(payload, Mapping):
        return dict(envelope)
    cleaned_payload: dict[str, Any] = {}
    for name, wrapper in payload.items():
        if isinstance(wrapper, Mapping) and isinstance(wrapper.get("entity"), Mapping):
            cleaned_payload[name] = {**wrapper, "entity": without_personal_fields(wrapper["entity"])}
        else:
            cleaned_payload[name] = wrapper
    return {**envelope, "payload": cleaned_payload}


def purge_personal_data(
    engine: Engine, *, older_than: timedelta, now: datetime | None = None, actor: str = "retention"
) -> PurgeResult:
    """Remove personal fields from payments and orders created, and webhook events received, before
    `now - older_than`. One transaction per batch; the audit row commits with the last batch."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    payments = _purge_rows(
        engine,
        _PAYMENTS,
        where=[_PAYMENTS.c.created_at < cutoff],
        typed={"email": None, "contact": None},
        column="raw",
        clean=without_personal_fields,
    )
    orders = _purge_rows(
        engine,
        _ORDERS,
        where=[_ORDERS.c.created_at < cutoff],
        typed={},
        column="raw",
        clean=without_personal_fields,
    )
    events = _purge_rows(
        engine,
        _EVENTS,
        where=[_EVENTS.c.received_at < cutoff],
        typed={},
        column="payload",
        clean=_envelope_without_personal_fields,
        key="event_id",
    )
    result = PurgeResult(cutoff, payments, orders, events)
    with engine.begin() as conn:
        record_audit(conn, actor=actor, action=PURGE_ACTION, target=None, detail=result.as_dict(), at=now)
    return result


def _purge_rows(
    engine: Engine,
    table: Any,
    *,
    where: list[Any],
    typed: Mapping[str, None],
    column: str,
    clean: Any,
    key: str = "id",
) -> int:
    """Rewrite the rows whose JSON (or typed personal columns) still hold personal data, in key order.
    Every old row is read each run (a full pass is what makes the purge exact); only changed ones are written."""
    changed = 0
    after: str | None = None
    key_column = table.c[key]
    statement = (
        update(table)
        .where(key_column == bindparam("b_key"))
        .values({column: bindparam("b_json", type_=table.c[column].type), **typed})
    )
    while True:
        with engine.begin() as conn:
            selected = [key_column, table.c[column], *(table.c[name] for name in typed)]
            query = select(*selected).where(*where).order_by(key_column).limit(_BATCH)
            if after is not None:
                query = query.where(key_column > after)
            rows = conn.execute(query).all()
            if not rows:
                return changed
            updates = []
            for row_key, document, *personal in rows:
                cleaned = clean(document) if isinstance(document, Mapping) else document
                if cleaned != document or any(value is not None for value in personal):
                    updates.append({"b_key": row_key, "b_json": cleaned})
            if updates:
                conn.execute(statement, updates)
            changed += len(updates)
            after = rows[-1][0]


def purge_old_rejections(
    engine: Engine, *, older_than: timedelta, now: datetime | None = None, actor: str = "retention"
) -> int:
    """Delete webhook_rejections rows received before `now - older_than` (unsigned requests can be
    sent by anyone, so their record must not grow without bound); audited. Returns the rows deleted."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    rejections = table_of(WebhookRejection)
    with engine.begin() as conn:
        deleted = conn.execute(delete(rejections).where(rejections.c.received_at < cutoff)).rowcount
        record_audit(
            conn,
            actor=actor,
            action=REJECTIONS_ACTION,
            target=None,
            detail={"cutoff": cutoff.isoformat(), "deleted": deleted},
            at=now,
        )
    return int(deleted)
