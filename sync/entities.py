"""Each Razorpay entity the sync pulls, declared once as data. The one loop in `sync.pull` serves them all.

Adding an entity means adding a declaration here, not a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import razorpay
from sqlalchemy import Connection

from data.models import Base, Dispute, Downtime, Order, Payment, Refund, Settlement, SettlementLine
from data.rollups import after_payments_written
from sync.normalise import (
    normalise_dispute,
    normalise_downtime,
    normalise_order,
    normalise_payment,
    normalise_refund,
    normalise_settlement,
    normalise_settlement_line,
)
from sync.paging import CreatedWindows, Partition, ReportDays, WholeList

__all__ = ["ENTITIES", "ENTITY_NAMES", "AfterWrite", "EntitySpec", "NormaliseContext", "entity_spec"]


@dataclass(frozen=True)
class NormaliseContext:
    state_at: datetime
    source: str
    country_notes_key: str = "country"


Normaliser = Callable[[Mapping[str, Any], NormaliseContext], dict[str, Any]]
SdkMethod = Callable[[razorpay.Client], Callable[..., Any]]
# Runs in the write's transaction with the rows just upserted: keeps derived tables (rollups) current.
AfterWrite = Callable[[Connection, Sequence[Mapping[str, Any]]], None]


@dataclass(frozen=True)
class EntitySpec:
    name: str  # the table name, also the CLI's entity name and the checkpoint key
    model: type[Base]
    sdk_method: SdkMethod
    normalise: Normaliser
    key: str = "id"  # primary key of the row and of the API object
    # How the time range is cut into listings and committed chunks (see sync.paging): by default
    # closed windows on `from`/`to` over `created_at`, sized to the data.
    partition: Partition = field(default_factory=CreatedWindows)
    page_size: int = 100  # Razorpay's largest `count` for list endpoints
    # Re-read on every run, so captures, refunds and late authorisations inside it are picked up.
    lookback: timedelta = timedelta(days=3)
    params: Mapping[str, Any] = field(default_factory=dict)
    after_write: AfterWrite | None = None
    # Collections an API object can carry inside itself (`expand[]=payments` on orders): each key names
    # the entity its items are loaded as. Any other nested collection is quarantined with its reason.
    nested: Mapping[str, str] = field(default_factory=dict)
    # The SDK's fetch-one-by-id call, as a list-like method taking `{"id": …, **params}`: for records a
    # webhook named as changed (sync.tiers); None for an entity no webhook names by id.
    fetch_one: SdkMethod | None = None

    def sdk_fetch(self, client: razorpay.Client) -> Callable[..., Any]:
        if self.fetch_one is None:
            raise KeyError(f"{self.name} cannot be fetched by id")
        return self.fetch_one(client)


def _by_id(resource: Callable[[razorpay.Client], Any]) -> SdkMethod:
    def bind(client: razorpay.Client) -> Callable[..., Any]:
        def fetch(params: Mapping[str, Any], **options: Any) -> Any:
            query = {key: value for key, value in params.items() if key != "id"}
            return resource(client).fetch(params["id"], query, **options)

        return fetch

    return bind


def _payment(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_payment(
        api, state_at=ctx.state_at, source=ctx.source, country_notes_key=ctx.country_notes_key
    )


def _order(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_order(api, state_at=ctx.state_at, source=ctx.source)


def _refund(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_refund(api, state_at=ctx.state_at, source=ctx.source)


def _settlement(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_settlement(api, state_at=ctx.state_at, source=ctx.source)


def _dispute(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_dispute(api, state_at=ctx.state_at, source=ctx.source)


def _downtime(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_downtime(api, state_at=ctx.state_at, source=ctx.source)


def _downtimes_list(client: razorpay.Client) -> Callable[..., Any]:
    # The SDK's downtimes call takes no request parameters (the endpoint has none); options such as
    # `timeout=` still reach requests.
    def fetch(_params: Mapping[str, Any], **options: Any) -> Any:
        return client.payment.fetchDownTime(**options)

    return fetch


def _settlement_line(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_settlement_line(api, source=ctx.source)


ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec(
        name="payments",
        model=Payment,
        sdk_method=lambda client: client.payment.all,
        normalise=_payment,
        params={"expand[]": "card"},
        after_write=after_payments_written,
        fetch_one=_by_id(lambda client: client.payment),
    ),
    EntitySpec(
        name="orders",
        model=Order,
        sdk_method=lambda client: client.order.all,
        normalise=_order,
        nested={"payments": "payments"},
        fetch_one=_by_id(lambda client: client.order),
    ),
    EntitySpec(
        name="refunds",
        model=Refund,
        sdk_method=lambda client: client.refund.all,
        normalise=_refund,
        fetch_one=_by_id(lambda client: client.refund),
    ),
    EntitySpec(
        name="settlements",
        model=Settlement,
        sdk_method=lambda client: client.settlement.all,
        normalise=_settlement,
        partition=CreatedWindows(initial=timedelta(days=7)),
    ),
    EntitySpec(
        name="settlement_lines",
        model=SettlementLine,
        sdk_method=lambda client: client.settlement.report,
        normalise=_settlement_line,
        key="entity_id",
        partition=ReportDays(),
        page_size=1000,
        # A day's report is re-read while lines can still join it (T+2/T+3 business days plus a weekend).
        lookback=timedelta(days=7),
    ),
    EntitySpec(
        name="disputes",
        model=Dispute,
        sdk_method=lambda client: client.dispute.all,
        normalise=_dispute,
        partition=CreatedWindows(initial=timedelta(days=30)),
        # A dispute moves for weeks (respond-by, review, outcome, pre-arbitration); the list is small, so
        # re-reading four months of it on every run is cheap and catches changes a webhook missed.
        lookback=timedelta(days=120),
    ),
    EntitySpec(
        name="downtimes",
        model=Downtime,
        sdk_method=_downtimes_list,
        normalise=_downtime,
        # GET /v1/payments/downtimes has no from/to and no paging: the whole list, read once a run.
        partition=WholeList(),
    ),
)

ENTITY_NAMES: tuple[str, ...] = tuple(spec.name for spec in ENTITIES)


def entity_spec(name: str) -> EntitySpec:
    for spec in ENTITIES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}")
