"""Typed SQLAlchemy 2 models: one class per table named in DESIGN.md.

Money is BigInteger minor units (paise for INR); timestamps are timezone-aware UTC; each entity row
keeps the raw API/webhook JSON it came from (with the full VPA reduced to its handle).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware UTC datetime (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: payops stores aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
RawJSON = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: RawJSON}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # What the customer paid, in the customer's currency (USD cents for a dollar payment).
    amount: Mapped[int] = mapped_column(BigInteger)
    # Not indexed: every filter on it also bounds created_at (migration 0016).
    currency: Mapped[str] = mapped_column(String(3))
    # What the merchant is credited, in the account's base currency (INR): `fee`, `tax`, the recon line
    # and the settlement are in this currency. The API's own figures for international payments; equal
    # to amount/currency for a payment in the base currency; NULL when a foreign payment lacks them.
    base_amount: Mapped[int | None] = mapped_column(BigInteger)
    base_currency: Mapped[str | None] = mapped_column(String(3))
    # The conversion Razorpay applied: base-currency units per unit of `currency` (71.29 INR per USD),
    # from its own base_amount/amount (data.money.conversion_rate); NULL when there was no conversion.
    conversion_rate: Mapped[Decimal | None] = mapped_column(Numeric(20, 10))
    # Indexed as the prefix of (status, created_at, id) and, for joins that only need it, with id
    # (see the indexes below).
    status: Mapped[str] = mapped_column(String(16))
    # Not indexed: a handful of values, and every filter on it also bounds created_at (migration 0017).
    method: Mapped[str | None] = mapped_column(String(32))
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    captured: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_status: Mapped[str | None] = mapped_column(String(16))
    fee: Mapped[int | None] = mapped_column(BigInteger)
    tax: Mapped[int | None] = mapped_column(BigInteger)
    bank: Mapped[str | None] = mapped_column(String(32))
    wallet: Mapped[str | None] = mapped_column(String(32))
    card_network: Mapped[str | None] = mapped_column(String(32))
    card_type: Mapped[str | None] = mapped_column(String(16))
    card_issuer: Mapped[str | None] = mapped_column(String(32))
    card_international: Mapped[bool | None] = mapped_column(Boolean)
    card_last4: Mapped[str | None] = mapped_column(String(4))
    upi_flow: Mapped[str | None] = mapped_column(String(16))
    # The VPA's handle ("okhdfcbank" of "name@okhdfcbank"): the UPI app, without the person.
    upi_app: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    contact: Mapped[str | None] = mapped_column(String(32), index=True)
    country: Mapped[str | None] = mapped_column(String(2))
    # How `country` was derived: notes | phone | international_currency | domestic_method | unknown.
    country_source: Mapped[str] = mapped_column(String(24), default="unknown")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(Text)
    error_source: Mapped[str | None] = mapped_column(String(64))
    error_step: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)
    # When the state in this row was true: API fetch time, or the webhook event's created_at.
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # api | webhook | file
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    receipt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | processed | failed
    speed_processed: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class Settlement(Base):
    __tablename__ = "settlements"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    status: Mapped[str] = mapped_column(String(16), index=True)  # created | processed | failed
    fees: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    utr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class SettlementLine(Base):
    """One line of Razorpay's combined recon report: a payment, refund, transfer or adjustment."""

    __tablename__ = "settlement_lines"

    entity_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # payment | refund | transfer | adjustment; indexed as the prefix of (type, payment_id).
    type: Mapped[str] = mapped_column(String(16))
    # For payment lines the payment itself; for refund lines the refunded payment, when known.
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    debit: Mapped[int] = mapped_column(BigInteger, default=0)
    credit: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Indexed with the amounts the settlement waterfall sums (see the indexes below).
    settlement_id: Mapped[str | None] = mapped_column(String(40))
    settlement_utr: Mapped[str | None] = mapped_column(String(64))
    # The dispute an adjustment line settles (a lost dispute's deduction), when the report names one.
    dispute_id: Mapped[str | None] = mapped_column(String(40), index=True)
    settled_at: Mapped[datetime | None]
    order_id: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str | None] = mapped_column(String(32))
    card_network: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class Dispute(Base):
    """A chargeback, retrieval or fraud claim against a payment; a lost one is deducted in a settlement."""

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # the amount disputed
    # Taken from the balance (0 unless lost); it reaches a settlement as an `adjustment` line.
    amount_deducted: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_description: Mapped[str | None] = mapped_column(Text)
    # fraud | retrieval | chargeback | pre_arbitration | arbitration
    phase: Mapped[str | None] = mapped_column(String(32))
    # open | under_review | action_required | won | lost | closed
    status: Mapped[str] = mapped_column(String(16), index=True)
    respond_by: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow, index=True)


class Downtime(Base):
    """A payment-method outage Razorpay announced: which instrument, how bad, from when to when."""

    __tablename__ = "downtimes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    method: Mapped[str | None] = mapped_column(String(32), index=True)
    # The affected instrument, one or more of these depending on the method.
    bank: Mapped[str | None] = mapped_column(String(32))
    issuer: Mapped[str | None] = mapped_column(String(32))
    card_network: Mapped[str | None] = mapped_column(String(32))
    card_type: Mapped[str | None] = mapped_column(String(16))
    vpa_handle: Mapped[str | None] = mapped_column(String(64))
    psp: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(16))  # low | medium | high
    status: Mapped[str] = mapped_column(String(16), index=True)  # scheduled | started | resolved
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    begin: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime | None]
    created_at: Mapped[datetime]
    state_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)


class WebhookEvent(Base):
    """A verified delivery, stored once per X-Razorpay-Event-Id; repeats only raise delivery_count."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))  # indexed with created_at, below
    known_type: Mapped[bool] = mapped_column(Boolean, default=True)
    account_id: Mapped[str | None] = mapped_column(String(64))
    # created_at and payment_id are indexed together with other columns (see the indexes below).
    created_at: Mapped[datetime]  # when Razorpay says it happened
    received_at: Mapped[datetime] = mapped_column(index=True)  # first delivery
    last_received_at: Mapped[datetime]
    delivery_count: Mapped[int] = mapped_column(Integer, default=1)
    # A replayed event's first-send time as its signed body declares it (sync/webhooks/intake.py,
    # REPLAY_KEY); NULL for a live delivery.
    sent_at: Mapped[datetime | None]
    lag_ms: Mapped[int] = mapped_column(BigInteger)  # (sent_at, else received_at) - created_at
    payment_id: Mapped[str | None] = mapped_column(String(40))
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(40), index=True)
    settlement_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # Entity status carried by the payload snapshot, for webhook-vs-API conflict checks.
    entity_status: Mapped[str | None] = mapped_column(String(16))
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    apply_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    # sha256 of the raw body: the same body under another event id is a duplicate of this event.
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    # What in the body could not be read as Razorpay documents it, and how it was read instead
    # ("; "-separated); NULL for an event read exactly as documented.
    interpretation: Mapped[str | None] = mapped_column(Text)
    # Deliveries under this event id whose body differed (validly signed): kept, counted, alertable.
    conflict_count: Mapped[int] = mapped_column(Integer, server_default="0")
    conflict_sha256: Mapped[str | None] = mapped_column(String(64))
    conflict_payload: Mapped[dict[str, Any] | None]
    last_conflict_at: Mapped[datetime | None]


def _minute_of_received_at(context: Any) -> datetime:
    received_at: datetime = context.get_current_parameters()["received_at"]
    return received_at.replace(second=0, microsecond=0)


def _received_at(context: Any) -> datetime:
    received_at: datetime = context.get_current_parameters()["received_at"]
    return received_at


class WebhookRejection(Base):
    """Deliveries that failed verification or parsing, one row per reason, source address and UTC
    minute (anyone can send unsigned requests, so their record must not grow with their number).
    Bodies are kept by hash and size only, of the first delivery of the row (a sample, like
    event_id, event_type and detail). A row written without the aggregate columns stands for one
    delivery: count 1, first = last = received_at."""

    __tablename__ = "webhook_rejections"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # UTC minute of the deliveries: with reason and source_address, the row's key (uq below).
    minute_start: Mapped[datetime] = mapped_column(default=_minute_of_received_at)
    received_at: Mapped[datetime] = mapped_column(index=True)  # the first delivery of the row
    last_received_at: Mapped[datetime] = mapped_column(default=_received_at)
    delivery_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # missing_signature | bad_signature | malformed_json | too_large | too_deep | body_timeout (older
    # rows also missing_event_id | bad_envelope, from before validly signed bodies were always stored)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    # The client address as the receiver saw it ("unknown" when the server gave none).
    source_address: Mapped[str] = mapped_column(String(64), default="unknown", server_default="unknown")
    event_id: Mapped[str | None] = mapped_column(String(64))
    # As claimed by an unverified body: control characters dropped, a leading = + - @ neutralised.
    event_type: Mapped[str | None] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    body_size: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class SyncCheckpoint(Base):
    __tablename__ = "sync_checkpoints"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Everything created before this instant has been synced (closed windows only).
    synced_until: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=_utcnow, onupdate=_utcnow)


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    trigger: Mapped[str] = mapped_column(String(16), default="cli")  # cli | watch | dashboard | schedule
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per entity: fetched/upserted/quarantined
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))


class SyncLease(Base):
    """Who may sync an entity right now: one row per entity, held by one run until it is released or
    its heartbeat stops (then another host takes it over). The database is the lock, so it holds
    across processes and hosts on PostgreSQL and across processes on one SQLite file."""

    __tablename__ = "sync_leases"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    # A random token per run: the only thing a heartbeat, a commit's fence and a release match on.
    holder: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Quarantine(Base):
    """A record that could not be normalised: kept with its reason, never dropped silently."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the raw text, so a rerun that meets the same bad record does not add it twice.
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # api | file | webhook
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(BigInteger)


class Mismatch(Base):
    __tablename__ = "mismatches"
    # Decisions and reconcile runs rewrite rows in bulk: free space on each page lets PostgreSQL update
    # in place (HOT, no index writes) when no indexed column changes. `status` is therefore not indexed:
    # it changes on every decision and auto-resolution, and three values make a poor index anyway.
    __table_args__ = ({"postgresql_with": {"fillfactor": 60}},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # rule id + subject ids: the stable identity that makes re-detection idempotent.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    rule: Mapped[str] = mapped_column(String(48), index=True)
    severity: Mapped[str] = mapped_column(String(16))  # critical | high | medium | low
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    auto_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(40), index=True)
    settlement_id: Mapped[str | None] = mapped_column(String(40), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    expected_amount: Mapped[int | None] = mapped_column(BigInteger)
    actual_amount: Mapped[int | None] = mapped_column(BigInteger)
    explanation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    # Working breaks in bulk (analytics/mismatch_bulk.py): who owns it, the reason code of the last
    # decision, when the evidence says the problem began (age counts from it) and when it is due.
    owner: Mapped[str | None] = mapped_column(String(128), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(48))
    evidence_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None] = mapped_column(index=True)


class MismatchEvent(Base):
    """The lifecycle history of one mismatch: detected, acknowledged, resolved, auto-resolved, reopened."""

    __tablename__ = "mismatch_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    mismatch_id: Mapped[int] = mapped_column(ForeignKey("mismatches.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class ReconcileRun(Base):
    """One reconciliation pass: when it started (wall clock; the next incremental pass reads what changed
    since then), the `now` its rules ran at, full or incremental, and the thresholds it ran with."""

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    rules_now: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    # The rules and thresholds it ran with: an incremental pass builds only on a pass with the same.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The webhook coverage window it saw (webhook_missing's time dependence).
    coverage_start: Mapped[datetime | None]
    coverage_end: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditLog(Base):
    """Who did what and when: exports, mismatch decisions, manual sync runs, sign-ins."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DashboardSession(Base):
    """A signed-in dashboard session, shared by every dashboard replica: the signed cookie names its id.

    Idle timeout and lifetime are checked against `last_seen_at` and `created_at`; sign-out sets
    `ended_at`. `activated_at` marks the one-time sign-in grant as used (the cookie was issued)."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class Alert(Base):
    """One episode of an alert condition: firing from first_fired_at until it clears (resolved_at).

    `key` is the condition (rule + subject, e.g. "success_drop:method=netbanking|bank=HDFC"); at most one
    episode per key is firing at a time (a partial unique index holds that); when a resolved condition
    comes back it starts a new episode, so the history shows each one.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    rule: Mapped[str] = mapped_column(String(48), index=True)
    severity: Mapped[str] = mapped_column(String(16))  # critical | high | medium | low
    # money (finance sees these too) | payments | webhooks | sync
    category: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # firing | resolved
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    # The dashboard page and query string that show what the alert is about, e.g. "success-rates?…".
    link: Mapped[str | None] = mapped_column(Text)
    first_fired_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    snoozed_until: Mapped[datetime | None]
    snoozed_by: Mapped[str | None] = mapped_column(String(128))
    notified_at: Mapped[datetime | None]


class CheckoutConfirmation(Base):
    """A checkout result the merchant's backend forwarded (`POST /checkout/confirmations`), with its verdict.

    The signature itself is kept only as a hash: it is not a secret, but nothing needs it back.
    """

    __tablename__ = "checkout_confirmations"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    verdict: Mapped[str] = mapped_column(String(16), index=True)  # verified | bad_signature | malformed
    # Which key secret verified it: "current", or "previous" during a rotation.
    key_used: Mapped[str | None] = mapped_column(String(16))
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
    source_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


# `id` last: "which payments of these statuses, created in this range, lack X" (missing webhooks, captures
# not settled) is answered from the index alone, without reading each payment's row and its raw JSON.
# With what "not settled yet" and "missing webhook" read of each captured payment (migration 0017).
Index(
    "ix_payments_status_created_at",
    Payment.status,
    Payment.created_at,
    Payment.id,
    Payment.currency,
    Payment.captured,
    Payment.amount,
)
# A period's lines summed from the index alone (the Settlements waterfall, migration 0017).
Index(
    "ix_settlement_lines_settlement_id",
    SettlementLine.settlement_id,
    SettlementLine.settled,
    SettlementLine.currency,
    SettlementLine.type,
    SettlementLine.amount,
    SettlementLine.fee,
    SettlementLine.tax,
    SettlementLine.debit,
    SettlementLine.credit,
)
# A join from events to their payment's status (webhook-versus-API conflicts over a month of events)
# probes this instead of each payment's wide row. It replaced the single-column status index, which
# the index above already covers as its prefix: the same number of indexes for every payment write.
Index("ix_payments_id_status", Payment.id, Payment.status)
Index("ix_settlement_lines_type_payment", SettlementLine.type, SettlementLine.payment_id)
# Webhook health reads every event of a period: per-day lag histograms, duplicates, late events and the
# webhook-versus-API conflicts come from this index alone, not from rows that carry the whole envelope.
Index(
    "ix_webhook_events_created_at_covering",
    WebhookEvent.created_at,
    WebhookEvent.event_type,
    WebhookEvent.lag_ms,
    WebhookEvent.delivery_count,
    WebhookEvent.entity_status,
    WebhookEvent.payment_id,
)
# "When did the last <type> event happen?" and "how many <type> events in this hour?" (the webhook-silence
# alert) in O(log n), whatever the history; also serves every filter on event_type alone.
Index("ix_webhook_events_event_type_created_at", WebhookEvent.event_type, WebhookEvent.created_at)
# "Did this payment's <type> event arrive?" (missing events, coverage) without reading the event row.
Index("ix_webhook_events_payment_id_type", WebhookEvent.payment_id, WebhookEvent.event_type)
Index("uq_webhook_events_body_sha256", WebhookEvent.body_sha256, unique=True)
# The aggregation key of rejections (the receiver's ON CONFLICT target).
Index(
    "uq_webhook_rejections_minute_reason_source",
    WebhookRejection.minute_start,
    WebhookRejection.reason,
    WebhookRejection.source_address,
    unique=True,
)
# One firing episode per condition, enforced by the database (two evaluations at once cannot both open it).
Index(
    "uq_alerts_firing_key",
    Alert.key,
    unique=True,
    sqlite_where=Alert.status == "firing",
    postgresql_where=Alert.status == "firing",
)

__all__ = [
    "Alert",
    "AuditLog",
    "Base",
    "CheckoutConfirmation",
    "Dispute",
    "Downtime",
    "Mismatch",
    "MismatchEvent",
    "Order",
    "Payment",
    "Quarantine",
    "Refund",
    "Settlement",
    "SettlementLine",
    "SyncCheckpoint",
    "SyncRun",
    "WebhookEvent",
    "WebhookRejection",
]


# --- analytics rollups (owner: analytics/) -----------------------------------------------------------
# Buckets are IST hours: `bucket_start` is the aware-UTC start of an IST clock hour (always HH:30 UTC),
# so an IST day is exactly 24 whole buckets and IST-day filters on rollups equal filters on raw rows.
# Key columns hold "" for a missing value (primary-key columns cannot be NULL); queries show "unknown".


class PaymentRollupHourly(Base):
    """Payment counts and amounts per IST hour, currency, method, country and one breakdown dimension.

    `dimension` = "all" rows carry every payment once (dim_value ""); each other dimension (bank,
    card_network, card_type, card_issuer, wallet, upi_flow, upi_app) repeats the payments that have
    that attribute, split by its value, so one table serves every "rate by X" query.
    """

    __tablename__ = "payment_rollup_hourly"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    dim_value: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    country: Mapped[str] = mapped_column(String(8), primary_key=True)
    country_source: Mapped[str] = mapped_column(String(24), primary_key=True)
    ist_day: Mapped[date] = mapped_column(Date)
    ist_hour: Mapped[int] = mapped_column(SmallInteger)
    attempts: Mapped[int] = mapped_column(BigInteger)
    successes: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(BigInteger)
    created_count: Mapped[int] = mapped_column(BigInteger)
    attempt_amount: Mapped[int] = mapped_column(BigInteger)
    success_amount: Mapped[int] = mapped_column(BigInteger)


class PaymentFailureRollupHourly(Base):
    """Failed payments per IST hour, currency, method, country and error source/step/reason."""

    __tablename__ = "payment_failure_rollup_hourly"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    country: Mapped[str] = mapped_column(String(8), primary_key=True)
    error_source: Mapped[str] = mapped_column(String(64), primary_key=True)
    error_step: Mapped[str] = mapped_column(String(64), primary_key=True)
    error_reason: Mapped[str] = mapped_column(String(128), primary_key=True)
    ist_day: Mapped[date] = mapped_column(Date)
    failures: Mapped[int] = mapped_column(BigInteger)
    failed_amount: Mapped[int] = mapped_column(BigInteger)


class PaymentRollupDaily(Base):
    """PaymentRollupHourly summed per IST day: what day-range queries read (24× fewer rows)."""

    __tablename__ = "payment_rollup_daily"

    ist_day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    dim_value: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    country: Mapped[str] = mapped_column(String(8), primary_key=True)
    country_source: Mapped[str] = mapped_column(String(24), primary_key=True)
    attempts: Mapped[int] = mapped_column(BigInteger)
    successes: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(BigInteger)
    created_count: Mapped[int] = mapped_column(BigInteger)
    attempt_amount: Mapped[int] = mapped_column(BigInteger)
    success_amount: Mapped[int] = mapped_column(BigInteger)


class PaymentFailureRollupDaily(Base):
    """PaymentFailureRollupHourly summed per IST day."""

    __tablename__ = "payment_failure_rollup_daily"

    ist_day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    country: Mapped[str] = mapped_column(String(8), primary_key=True)
    error_source: Mapped[str] = mapped_column(String(64), primary_key=True)
    error_step: Mapped[str] = mapped_column(String(64), primary_key=True)
    error_reason: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(BigInteger)
    failed_amount: Mapped[int] = mapped_column(BigInteger)


class WebhookLagRollupDaily(Base):
    """Webhook events per IST day of their created_at, event type and lag bucket (data/rollups.py,
    `lag_bucket_ms`), kept current by the receiver: Webhook health's counts and lag percentiles read
    these few thousand rows a month instead of every event."""

    __tablename__ = "webhook_lag_rollup_daily"

    ist_day: Mapped[date] = mapped_column(Date, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    lag_bucket_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    deliveries: Mapped[int] = mapped_column(BigInteger)


Index(
    "ix_payment_rollup_hourly_dimension_bucket",
    PaymentRollupHourly.dimension,
    PaymentRollupHourly.bucket_start,
)
Index("ix_payment_rollup_daily_dimension_day", PaymentRollupDaily.dimension, PaymentRollupDaily.ist_day)

__all__ += [
    "PaymentFailureRollupDaily",
    "PaymentFailureRollupHourly",
    "PaymentRollupDaily",
    "PaymentRollupHourly",
]


# --- bank statements (owner: sync/statements.py imports, analytics/bank_match.py matches) --------------


class BankStatement(Base):
    """One imported statement file: what it covers, so a credit missing outside coverage is "not yet known"."""

    __tablename__ = "bank_statements"

    file_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))  # csv | mt940 | camt053
    preset: Mapped[str | None] = mapped_column(String(32))
    # The account number's last four digits only: enough to tell accounts apart on the page.
    account: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer)
    quarantined: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(128))


class BankStatementLine(Base):
    """One transaction line of a bank statement, kept with where it came from and its raw text.

    `line_key` identifies the transaction, not the file: account, dates, direction, amount, reference,
    narration and its occurrence number among identical lines of the same file. Re-importing a file,
    or an overlapping statement, finds the same keys and changes nothing; a genuine second credit of
    the same text in one file is occurrence 2 and is kept.
    """

    __tablename__ = "bank_statement_lines"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    line_key: Mapped[str] = mapped_column(String(64), unique=True)
    file_sha256: Mapped[str] = mapped_column(ForeignKey("bank_statements.file_sha256"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    line_number: Mapped[int] = mapped_column(Integer)
    account: Mapped[str | None] = mapped_column(String(16))
    value_date: Mapped[date] = mapped_column(Date)
    booking_date: Mapped[date | None] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(6))  # credit | debit
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units, always positive
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(128))
    narration: Mapped[str | None] = mapped_column(Text)
    balance: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime]


class BankMatch(Base):
    """Which statement line credits which settlement, and the matching rule that decided it.

    Rebuilt as a whole by `analytics.bank_match.refresh_bank_matches`. `outcome` is matched (amounts
    agree), amount_differs (the UTR links them, the amounts do not) or ambiguous (one row per candidate
    settlement of a line that more than one settlement could explain: a break, never a guess).
    """

    __tablename__ = "bank_matches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("bank_statement_lines.id", ondelete="CASCADE"), index=True
    )
    settlement_id: Mapped[str] = mapped_column(String(40), index=True)
    rule: Mapped[str] = mapped_column(String(24))  # utr | utr_sum | amount_date | sum_date
    outcome: Mapped[str] = mapped_column(String(16))  # matched | amount_differs | ambiguous
    matched_at: Mapped[datetime]


# Matching reads credits by day; the page lists a settlement's credit lines.
Index(
    "ix_bank_statement_lines_direction_value_date", BankStatementLine.direction, BankStatementLine.value_date
)

__all__ += ["BankMatch", "BankStatement", "BankStatementLine"]
