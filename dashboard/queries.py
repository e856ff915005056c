"""Every number a page shows comes through here: `analytics/` calls wrapped in `st.cache_data(ttl=…)`.

The database URL is part of every cache key, so two databases (tests, a switched DATABASE_URL) never
share cached figures. Writes (mismatch decisions, audit rows, a manual sync) clear the caches they stale.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analytics import alerts as analytics_alerts
from analytics import disputes as analytics_disputes
from analytics import downtime_impact as analytics_downtimes
from analytics import mismatches as analytics_mismatches
from analytics import orders as analytics_orders
from analytics import payment_story as queries_payments
from analytics import risk as analytics_risk
from analytics import settlements as queries_settlements
from analytics import success as analytics_success
from analytics import sync_health as queries_sync
from analytics import webhook_health as analytics_webhooks
from analytics.alerts import AlertError
from analytics.disputes import DisputeSummary, RateDimension
from analytics.filters import Filters as AnalyticsFilters
from analytics.listing import Listing, count_rows, listing, stream_rows
from analytics.mismatches import MismatchError
from analytics.payment_story import PaymentStory
from analytics.rules import RULES
from analytics.settlements import SettlementsPage, SettlementWaterfall
from analytics.success import Kpis, Outcome
from analytics.webhook_health import WebhookHealth
from data import audit as data_audit
from data.db import make_engine
from data.settings import get_settings

# Writers keep the rollups current on every write; a minute of staleness is the price of fast pages.
TTL_SECONDS = 60
# Raw-table tables (drill-downs, mismatches) change by user action too; they refresh sooner.
TTL_DETAIL_SECONDS = 15
# Sync status lists this many of the latest runs (and says how many there are).
SYNC_RUNS_LISTED = 20

__all__ = [
    "AlertError",
    "DisputeSummary",
    "Kpis",
    "MismatchError",
    "PaymentStory",
    "SettlementWaterfall",
    "WebhookHealth",
    "cached",
]

P = ParamSpec("P")
R = TypeVar("R")


def database_url() -> str:
    return get_settings().database_url


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    return _engine(database_url())


def clear_caches() -> None:
    """After a write: the next render reads fresh figures."""
    st.cache_data.clear()


def cached(ttl: int) -> Callable[[Callable[Concatenate[Engine, P], R]], Callable[P, R]]:
    """`st.cache_data(ttl=ttl)` for a query on the current database.

    The decorated function takes the engine first; callers leave it out (`kpis(filters)`), and the
    result is cached under (database URL, every argument by name with defaults filled in), so
    `kpis(f)` and `kpis(f, compare_previous=True)` share one entry and two databases share none.
    """

    def decorate(query: Callable[Concatenate[Engine, P], R]) -> Callable[P, R]:
        signature = inspect.signature(query)
        public = signature.replace(parameters=list(signature.parameters.values())[1:])
        by_name: Callable[..., R] = query  # called with its arguments by name, as bound below

        def run_query(url: str, arguments: tuple[tuple[str, Any], ...]) -> R:
            return by_name(_engine(url), **dict(arguments))

        # st.cache_data keys a function by its module and qualified name (nested functions would
        # all share one cache otherwise), so each query's runner is named after the query.
        run_query.__module__ = query.__module__
        run_query.__name__ = query.__name__
        run_query.__qualname__ = query.__qualname__
        cached_run = st.cache_data(ttl=ttl, show_spinner=False)(run_query)

        @functools.wraps(query)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = public.bind(*args, **kwargs)
            bound.apply_defaults()
            return cached_run(database_url(), tuple(bound.arguments.items()))

        call.__signature__ = public  # type: ignore[attr-defined]
        return call

    return decorate


# --- success rates, failures -----------------------------------------------------------------------


@cached(ttl=TTL_SECONDS)
def first_payment_day(db: Engine) -> date | None:
    return analytics_success.first_payment_day(db)


@cached(ttl=TTL_SECONDS)
def kpis(db: Engine, filters: AnalyticsFilters, *, compare_previous: bool = True) -> Kpis:
    return analytics_success.kpis(db, filters, compare_previous=compare_previous)


@cached(ttl=TTL_SECONDS)
def success_rates(
    db: Engine, by: str, filters: AnalyticsFilters, *, compare_previous: bool = False
) -> pd.DataFrame:
    return analytics_success.success_rates(db, by, filters, compare_previous=compare_previous)


@cached(ttl=TTL_SECONDS)
def order_success(db: Engine, filters: AnalyticsFilters) -> pd.DataFrame:
    """Orders attempted → eventually paid, by the first attempt's method (and an "all" row)."""
    return analytics_orders.order_success(db, filters)


@cached(ttl=TTL_SECONDS)
def failure_reasons(
    db: Engine,
    filters: AnalyticsFilters,
    by: tuple[str, ...] = ("error_source", "error_step", "error_reason"),
    limit: int = 10,
) -> pd.DataFrame:
    return analytics_success.failure_reasons(db, filters, by=by, limit=limit)


@cached(ttl=TTL_DETAIL_SECONDS)
def payments_drilldown(
    db: Engine,
    filters: AnalyticsFilters,
    *,
    dimension: str | None = None,
    value: str | None = None,
    outcome: Outcome | None = None,
    error_reason: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """The payments behind one bar (`dimension`/`value`, as in `success_rates(by=dimension)`), newest first."""
    return analytics_success.payments_drilldown(
        db,
        filters,
        dimension=dimension,
        value=value,
        outcome=outcome,
        error_reason=error_reason,
        limit=limit,
    )


@cached(ttl=TTL_DETAIL_SECONDS)
def drilldown_count(db: Engine, filters: AnalyticsFilters) -> int:
    """How many payments `payments_drilldown(filters)` lists the newest of (a COUNT)."""
    return count_rows(db, analytics_success.payments_drilldown_query(filters))


def drilldown_rows(
    filters: AnalyticsFilters,
    *,
    dimension: str | None = None,
    value: str | None = None,
    outcome: Outcome | None = None,
    error_reason: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every payment behind a bar, streamed (its CSV; never cached)."""
    query = analytics_success.payments_drilldown_query(
        filters, dimension=dimension, value=value, outcome=outcome, error_reason=error_reason
    )
    return stream_rows(engine(), query, analytics_success.DRILLDOWN_COLUMNS)


@cached(ttl=TTL_SECONDS)
def filter_options(db: Engine) -> dict[str, list[str]]:
    """Values the sidebar offers: {"currency": [...], "method": [...], "country": [...]}."""
    # Every currency, method and country ever seen: the rollups answer this without touching raw rows.
    everything = AnalyticsFilters()
    options: dict[str, list[str]] = {}
    for dimension in ("currency", "method", "country"):
        frame = analytics_success.success_rates(db, dimension, everything)
        options[dimension] = sorted(str(value) for value in frame[dimension].dropna().unique())
    return options


# --- webhooks --------------------------------------------------------------------------------------


@cached(ttl=TTL_SECONDS)
def webhook_health(db: Engine, filters: AnalyticsFilters) -> WebhookHealth:
    return analytics_webhooks.webhook_health(db, filters)


def missing_webhook_rows(filters: AnalyticsFilters) -> Iterator[dict[str, Any]]:
    """Every missing webhook of the period, streamed (for its CSV; never cached)."""
    return analytics_webhooks.missing_rows(engine(), filters)


def webhook_problem_rows(
    kind: Literal["late", "duplicates", "conflicts"], filters: AnalyticsFilters
) -> Iterator[dict[str, Any]]:
    """Every late, duplicate or status-conflicting event of the period, streamed (its CSV; never
    cached), in the order the page's table shows the first of them."""
    db = engine()
    if kind == "late":
        return stream_rows(db, analytics_webhooks.late_query(filters), analytics_webhooks.LATE_COLUMNS)
    if kind == "duplicates":
        return stream_rows(
            db, analytics_webhooks.duplicates_query(filters), analytics_webhooks.DUPLICATE_COLUMNS
        )
    start, end = filters.utc_range()
    query = analytics_webhooks.status_conflicts_query(db.dialect.name, start=start, end=end)
    return stream_rows(db, query, analytics_webhooks.CONFLICT_COLUMNS)


# --- mismatches ------------------------------------------------------------------------------------


@cached(ttl=TTL_DETAIL_SECONDS)
def mismatches(
    db: Engine, *, rule: str | None = None, status: str | None = None, limit: int = 1000
) -> pd.DataFrame:
    return analytics_mismatches.list_mismatches(db, rule=rule, status=status, limit=limit)


@cached(ttl=TTL_DETAIL_SECONDS)
def unresolved_breakdown(db: Engine, rule: str | None = None) -> pd.DataFrame:
    return analytics_mismatches.unresolved_breakdown(db, rule=rule, now=now())


@cached(ttl=TTL_DETAIL_SECONDS)
def mismatch_summary(db: Engine) -> pd.DataFrame:
    return analytics_mismatches.mismatch_summary(db)


def mismatch_history(mismatch_id: int) -> pd.DataFrame:
    return analytics_mismatches.mismatch_history(engine(), mismatch_id)


def rule_catalogue() -> dict[str, Mapping[str, str]]:
    """rule id → title, severity, explanation, usual cause (for filters and explanations)."""
    return {
        rule_id: {
            "title": rule.title,
            "severity": rule.severity,
            "explanation": rule.explanation,
            "usual_cause": rule.usual_cause,
        }
        for rule_id, rule in RULES.items()
    }


def decide_mismatch(
    mismatch_id: int, decision: Literal["acknowledge", "resolve", "reopen"], actor: str, note: str | None
) -> None:
    """Acknowledge/resolve/reopen; analytics writes mismatch_events and audit_log in one transaction."""
    action = {
        "acknowledge": analytics_mismatches.acknowledge,
        "resolve": analytics_mismatches.resolve,
        "reopen": analytics_mismatches.reopen,
    }[decision]
    action(engine(), mismatch_id, actor, note)
    clear_caches()


# --- settlements -----------------------------------------------------------------------------------


@cached(ttl=TTL_SECONDS)
def settlements_page(db: Engine, filters: AnalyticsFilters) -> SettlementsPage:
    return queries_settlements.settlements_page(db, filters)


@cached(ttl=TTL_SECONDS)
def settlements_not_adding_up(
    db: Engine, filters: AnalyticsFilters, currency: str, limit: int
) -> pd.DataFrame:
    """The newest `limit` settlements of the period in `currency` that do not add up to their lines."""
    return queries_settlements.settlements(db, filters, limit=limit, currency=currency, not_adding_up=True)


def settlement_rows(filters: AnalyticsFilters, currency: str | None) -> Iterator[dict[str, Any]]:
    """Every settlement of the period (in `currency`, if given), streamed (its CSV; never cached)."""
    query = queries_settlements.settlements_query(filters, currency=currency)
    return stream_rows(engine(), query, queries_settlements.SETTLEMENT_COLUMNS)


@cached(ttl=TTL_DETAIL_SECONDS)
def settlement_lines(db: Engine, settlement_id: str) -> Listing:
    return queries_settlements.settlement_lines(db, settlement_id)


def settlement_line_rows(settlement_id: str) -> Iterator[dict[str, Any]]:
    """Every line of a settlement, streamed (for its CSV; never cached)."""
    query = queries_settlements.settlement_lines_query(settlement_id)
    return stream_rows(engine(), query, queries_settlements.LINE_COLUMNS)


# --- payments --------------------------------------------------------------------------------------


@cached(ttl=TTL_DETAIL_SECONDS)
def find_payments(db: Engine, text: str) -> Listing:
    return queries_payments.find_payments(db, text)


def found_payment_rows(text: str) -> Iterator[dict[str, Any]]:
    """Every payment a search matches, streamed (for its CSV; never cached)."""
    return stream_rows(engine(), queries_payments.find_payments_query(text), queries_payments.PAYMENT_COLUMNS)


@cached(ttl=TTL_DETAIL_SECONDS)
def payment_story(db: Engine, payment_id: str) -> PaymentStory | None:
    return queries_payments.payment_story(db, payment_id)


# --- sync ------------------------------------------------------------------------------------------


@cached(ttl=TTL_DETAIL_SECONDS)
def sync_status(db: Engine) -> list[dict[str, Any]]:
    """`python -m sync status --json`'s rows: entity, checkpoint, lag_seconds, rows, quarantined, last_run."""
    from sync.cli import status_rows

    return status_rows(db)


def running_syncs() -> list[str]:
    """One line per entity a sync run (from any host, CLI or dashboard) holds right now. Not cached:
    it decides what the "Run sync now" button says."""
    from data.sync_lease import current_holders

    return [holder.describe() for holder in current_holders(engine())]


@cached(ttl=TTL_DETAIL_SECONDS)
def sync_runs(db: Engine) -> pd.DataFrame:
    """The latest `SYNC_RUNS_LISTED` runs (`sync_runs_total` counts them all)."""
    return queries_sync.sync_runs(db, limit=SYNC_RUNS_LISTED)


@cached(ttl=TTL_DETAIL_SECONDS)
def sync_runs_total(db: Engine) -> int:
    """How many sync runs there are (a COUNT)."""
    return count_rows(db, queries_sync.sync_runs_query())


def sync_run_rows() -> Iterator[dict[str, Any]]:
    """Every sync run, streamed (its CSV; never cached)."""
    return queries_sync.sync_run_rows(engine())


@cached(ttl=TTL_DETAIL_SECONDS)
def quarantined_records(db: Engine) -> pd.DataFrame:
    return queries_sync.quarantined_records(db)


@cached(ttl=TTL_DETAIL_SECONDS)
def quarantine_total(db: Engine) -> int:
    """How many records are quarantined (a COUNT; the table lists the latest of them)."""
    return count_rows(db, queries_sync.quarantine_query())


def quarantine_rows() -> Iterator[dict[str, Any]]:
    """Every quarantined record, streamed (its CSV; never cached)."""
    return stream_rows(engine(), queries_sync.quarantine_query(), queries_sync.QUARANTINE_COLUMNS)


# --- alerts ----------------------------------------------------------------------------------------


def _alert_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=analytics_alerts.ALERT_COLUMNS)
    for column in ("first_fired_at", "last_seen_at", "resolved_at", "acknowledged_at", "snoozed_until"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


@cached(ttl=TTL_DETAIL_SECONDS)
def alerts(db: Engine, categories: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The first `ALERTS_LISTED` alerts, firing first; `categories` limits them (finance sees the money
    ones). `alert_counts` says how many there are."""
    return _alert_frame(analytics_alerts.list_alerts(db, categories=categories))


@cached(ttl=TTL_DETAIL_SECONDS)
def alerts_by_id(
    db: Engine, alert_ids: tuple[int, ...], categories: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """These alerts (those `categories` allow), listed or not: a link to an older alert still opens it."""
    return _alert_frame(analytics_alerts.list_alerts(db, categories=categories, alert_ids=alert_ids))


@cached(ttl=TTL_DETAIL_SECONDS)
def _alert_counts(db: Engine, categories: tuple[str, ...] | None, at: datetime) -> dict[str, int]:
    return analytics_alerts.alert_counts(db, at=at, categories=categories)


def alert_counts(categories: tuple[str, ...] | None = None) -> dict[str, int]:
    """How many alerts there are, firing, acknowledged, snoozed (as of now) and resolved: COUNTs."""
    return _alert_counts(categories, now().replace(second=0, microsecond=0))


def alert_rows(categories: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Every alert, streamed (the CSV; never cached)."""
    return analytics_alerts.alert_rows(engine(), categories=categories)


def alert_rules() -> dict[str, Mapping[str, str]]:
    return {
        rule_id: {"title": rule.title, "usual_cause": rule.usual_cause, "category": rule.category}
        for rule_id, rule in analytics_alerts.RULES.items()
    }


@cached(ttl=TTL_DETAIL_SECONDS)
def alert_payments(db: Engine, alert_id: int, limit: int = 200) -> Listing:
    """The payments a success-rate alert counted: their true count and the newest `limit` (empty for
    other rules)."""
    alert = analytics_alerts.get_alert(db, alert_id)
    query = analytics_alerts.payments_behind_query(alert) if alert else None
    if query is None:
        return Listing(total=0, first=pd.DataFrame())
    listed = listing(db, query, analytics_alerts.PAYMENTS_BEHIND_COLUMNS, first=limit)
    listed.first["created_at"] = pd.to_datetime(listed.first["created_at"], utc=True)
    return listed


def alert_payment_rows(alert_id: int) -> Iterator[dict[str, Any]]:
    """Every payment a success-rate alert counted, streamed (its CSV; never cached)."""
    alert = analytics_alerts.get_alert(engine(), alert_id)
    query = analytics_alerts.payments_behind_query(alert) if alert else None
    if query is None:
        return iter(())
    return stream_rows(engine(), query, analytics_alerts.PAYMENTS_BEHIND_COLUMNS)


def acknowledge_alert(alert_id: int, actor: str, at: datetime) -> None:
    analytics_alerts.acknowledge(engine(), alert_id, by=actor, at=at)
    clear_caches()


def snooze_alert(alert_id: int, actor: str, until: datetime, at: datetime) -> None:
    analytics_alerts.snooze(engine(), alert_id, until=until, by=actor, at=at)
    clear_caches()


# --- risk ------------------------------------------------------------------------------------------


def now() -> datetime:
    """The one clock the pages' "as of now" questions read (tests pin it)."""
    return datetime.now(UTC)


@cached(ttl=TTL_SECONDS)
def _risk_signals(db: Engine, at: datetime) -> list[dict[str, Any]]:
    return [signal.as_dict() for signal in analytics_risk.risk_signals(db, at=at)]


def _risk_moment() -> datetime:
    # Minute resolution: the signals are computed at most once a minute, and their CSVs read the same moment.
    return now().replace(second=0, microsecond=0)


def risk_signals() -> list[dict[str, Any]]:
    """Risk signals as of now (the last `RISK__WINDOW_HOURS`), computed at most once a minute."""
    return _risk_signals(_risk_moment())


@cached(ttl=TTL_DETAIL_SECONDS)
def signal_payments(db: Engine, payment_ids: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(analytics_risk.signal_payments(db, payment_ids))


def signal_payment_rows(payment_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every payment a signal lists (for its CSV; never cached)."""
    return analytics_risk.signal_payments(engine(), payment_ids, limit=len(payment_ids))


def unconfirmed_capture_rows() -> Iterator[dict[str, Any]]:
    """Every payment behind the unconfirmed-capture signal as of the signals' moment, streamed (its CSV:
    all of them, not only the `UNCONFIRMED_LISTED` ids the signal carries; never cached)."""
    query = analytics_risk.unconfirmed_captures_query(at=_risk_moment())
    return stream_rows(engine(), query, analytics_risk.SIGNAL_PAYMENT_COLUMNS)


# --- audit -----------------------------------------------------------------------------------------


def record_audit(*, actor: str, action: str, target: str | None, detail: Mapping[str, Any]) -> None:
    """One audit_log row (exports, sign-ins, manual sync runs): who, what, when."""
    with engine().begin() as conn:
        data_audit.record_audit(conn, actor=actor, action=action, target=target, detail=detail)


# --- disputes --------------------------------------------------------------------------------------


@cached(ttl=TTL_DETAIL_SECONDS)
def open_disputes(db: Engine, now: datetime) -> pd.DataFrame:
    return analytics_disputes.open_disputes(db, now=now)


@cached(ttl=TTL_DETAIL_SECONDS)
def open_disputes_total(db: Engine) -> int:
    """How many disputes are open (a COUNT; the table lists the most urgent of them)."""
    return count_rows(db, analytics_disputes.open_disputes_query())


def open_dispute_rows(now: datetime) -> Iterator[dict[str, Any]]:
    """Every open dispute as the table shows it, streamed (its CSV; never cached)."""
    rows = stream_rows(
        engine(), analytics_disputes.open_disputes_query(), analytics_disputes.OPEN_QUERY_COLUMNS
    )
    return (analytics_disputes.open_record(row, now) for row in rows)


@cached(ttl=TTL_DETAIL_SECONDS)
def dispute_summary(db: Engine, now: datetime) -> list[DisputeSummary]:
    return analytics_disputes.dispute_summary(db, now=now)


@cached(ttl=TTL_SECONDS)
def dispute_rates(db: Engine, by: RateDimension, filters: AnalyticsFilters) -> pd.DataFrame:
    return analytics_disputes.dispute_rates(db, by, filters)


# --- downtimes ------------------------------------------------------------------------------------


@cached(ttl=TTL_SECONDS)
def downtime_impact(
    db: Engine, start: datetime, end: datetime, now: datetime
) -> list[analytics_downtimes.DowntimeImpact]:
    return analytics_downtimes.downtime_impact(db, start=start, end=end, now=now)


@cached(ttl=TTL_SECONDS)
def downtime_hourly(
    db: Engine, method: str | None, instrument: tuple[tuple[str, str], ...], begin: datetime, end: datetime
) -> pd.DataFrame:
    return pd.DataFrame(
        analytics_downtimes.downtime_hourly(
            db, method=method, instrument=dict(instrument), begin=begin, end=end
        )
    )


@cached(ttl=TTL_SECONDS)
def undeclared_dips(db: Engine, start: datetime, end: datetime) -> list[analytics_downtimes.UndeclaredDip]:
    return analytics_downtimes.undeclared_dips(db, start=start, end=end)


def this_minute() -> datetime:
    """Now, floored to the minute: a cache key that holds for a minute instead of changing every rerun."""
    return datetime.now(UTC).replace(second=0, microsecond=0)
