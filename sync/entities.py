"""Each Razorpay entity the sync pulls, declared once as data. The one loop in `sync.pull` serves them all.

Adding an entity means adding a declaration here, not a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import razorpay

from data.models import Base, Order, Payment, Refund, Settlement, SettlementLine
from sync.normalise import (
    normalise_order,
    normalise_payment,
    normalise_refund,
    normalise_settlement,
    normalise_settlement_line,
)

__all__ = ["ENTITIES", "ENTITY_NAMES", "EntitySpec", "NormaliseContext", "entity_spec"]


@dataclass(frozen=True)
class NormaliseContext:
    state_at: datetime
    source: str
    country_notes_key: str = "country"


Normaliser = Callable[[Mapping[str, Any], NormaliseContext], dict[str, Any]]
SdkMethod = Callable[[razorpay.Client], Callable[..., Any]]


@dataclass(frozen=True)
class EntitySpec:
    name: str  # the table name, also the CLI's entity name and the checkpoint key
    model: type[Base]
    sdk_method: SdkMethod
    normalise: Normaliser
    key: str = "id"  # primary key of the row and of the API object
    # "window": list endpoint filtered by `from`/`to` on the cursor, paged with skip/count.
    # "daily_report": the recon report, one request series per day (year/month/day).
    paging: Literal["window", "daily_report"] = "window"
    page_size: int = 100  # Razorpay's largest `count` for list endpoints
    # Re-read on every run, so captures, refunds and late authorisations inside it are picked up.
    lookback: timedelta = timedelta(days=3)
    cursor: str = "created_at"
    params: Mapping[str, Any] = field(default_factory=dict)
    # First window length; the loop adapts it to hold about `target_window_rows` rows.
    initial_window: timedelta = timedelta(hours=6)
    target_window_rows: int = 2000
    # Collections an API object can carry inside itself (`expand[]=payments` on orders): each key names
    # the entity its items are loaded as. Any other nested collection is quarantined with its reason.
    nested: Mapping[str, str] = field(default_factory=dict)


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


def _settlement_line(api: Mapping[str, Any], ctx: NormaliseContext) -> dict[str, Any]:
    return normalise_settlement_line(api, source=ctx.source)


ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec(
        name="payments",
        model=Payment,
        sdk_method=lambda client: client.payment.all,
        normalise=_payment,
        params={"expand[]": "card"},
    ),
    EntitySpec(
        name="orders",
        model=Order,
        sdk_method=lambda client: client.order.all,
        normalise=_order,
        nested={"payments": "payments"},
    ),
    EntitySpec(name="refunds", model=Refund, sdk_method=lambda client: client.refund.all, normalise=_refund),
    EntitySpec(
        name="settlements",
        model=Settlement,
        sdk_method=lambda client: client.settlement.all,
        normalise=_settlement,
        initial_window=timedelta(days=7),
    ),
    EntitySpec(
        name="settlement_lines",
        model=SettlementLine,
        sdk_method=lambda client: client.settlement.report,
        normalise=_settlement_line,
        key="entity_id",
        paging="daily_report",
        page_size=1000,
        # A day's report is re-read while lines can still join it (T+2/T+3 business days plus a weekend).
        lookback=timedelta(days=7),
        cursor="settled_at",
    ),
)

ENTITY_NAMES: tuple[str, ...] = tuple(spec.name for spec in ENTITIES)


def entity_spec(name: str) -> EntitySpec:
    for spec in ENTITIES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}")
