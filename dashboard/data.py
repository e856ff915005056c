"""Every number a page shows comes through here: `analytics/` calls wrapped in `st.cache_data(ttl=…)`.

The database URL is part of every cache key, so two databases (tests, a switched DATABASE_URL) never
share cached figures. Writes (mismatch decisions, audit rows, a manual sync) clear the caches they stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analytics import mismatches as analytics_mismatches
from analytics import payment_story as queries_payments
from analytics import settlements as queries_settlements
from analytics import success as analytics_success
from analytics import sync_health as queries_sync
from analytics import webhook_health as analytics_webhooks
from analytics.filters import Filters as AnalyticsFilters
from analytics.mismatches import MismatchError
from analytics.payment_story import PaymentStory
from analytics.rules import RULES
from analytics.settlements import SettlementWaterfall
from analytics.success import Kpis, Outcome
from analytics.webhook_health import WebhookHealth
from data import audit as data_audit
from data.db import make_engine
from data.settings import get_settings

# Writers keep the rollups current on every write; a minute of staleness is the price of fast pages.
TTL_SECONDS = 60
# Raw-table tables (drill-downs, mismatches) change by user action too; they refresh sooner.
TTL_DETAIL_SECONDS = 15

__all__ = ["Kpis", "MismatchError", "PaymentStory", "SettlementWaterfall", "WebhookHealth"]


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


# --- success rates, volume, failures -------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _kpis(url: str, filters: AnalyticsFilters, compare_previous: bool) -> Kpis:
    return analytics_success.kpis(_engine(url), filters, compare_previous=compare_previous)


def kpis(filters: AnalyticsFilters, *, compare_previous: bool = True) -> Kpis:
    return _kpis(database_url(), filters, compare_previous)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _success_rates(url: str, by: str, filters: AnalyticsFilters, compare_previous: bool) -> pd.DataFrame:
    return analytics_success.success_rates(_engine(url), by, filters, compare_previous=compare_previous)


def success_rates(by: str, filters: AnalyticsFilters, *, compare_previous: bool = False) -> pd.DataFrame:
    return _success_rates(database_url(), by, filters, compare_previous)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _volume_value(url: str, filters: AnalyticsFilters, by: str | None) -> pd.DataFrame:
    return analytics_success.volume_value(_engine(url), filters, by=by)


def volume_value(filters: AnalyticsFilters, by: str | None = None) -> pd.DataFrame:
    return _volume_value(database_url(), filters, by)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _failure_reasons(url: str, filters: AnalyticsFilters, by: tuple[str, ...], limit: int) -> pd.DataFrame:
    return analytics_success.failure_reasons(_engine(url), filters, by=by, limit=limit)


def failure_reasons(
    filters: AnalyticsFilters,
    by: tuple[str, ...] = ("error_source", "error_step", "error_reason"),
    limit: int = 10,
) -> pd.DataFrame:
    return _failure_reasons(database_url(), filters, by, limit)


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _payments_drilldown(
    url: str,
    filters: AnalyticsFilters,
    dimension: str | None,
    value: str | None,
    outcome: Outcome | None,
    error_reason: str | None,
    limit: int,
) -> pd.DataFrame:
    return analytics_success.payments_drilldown(
        _engine(url),
        filters,
        dimension=dimension,
        value=value,
        outcome=outcome,
        error_reason=error_reason,
        limit=limit,
    )


def payments_drilldown(
    filters: AnalyticsFilters,
    *,
    dimension: str | None = None,
    value: str | None = None,
    outcome: Outcome | None = None,
    error_reason: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """The payments behind one bar (`dimension`/`value`, as in `success_rates(by=dimension)`), newest first."""
    return _payments_drilldown(database_url(), filters, dimension, value, outcome, error_reason, limit)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _filter_options(url: str) -> dict[str, list[str]]:
    # Every currency, method and country ever seen: the rollups answer this without touching raw rows.
    everything = AnalyticsFilters()
    options: dict[str, list[str]] = {}
    for dimension in ("currency", "method", "country"):
        frame = analytics_success.success_rates(_engine(url), dimension, everything)
        options[dimension] = sorted(str(value) for value in frame[dimension].dropna().unique())
    return options


def filter_options() -> dict[str, list[str]]:
    """Values the sidebar offers: {"currency": [...], "method": [...], "country": [...]}."""
    return _filter_options(database_url())


# --- webhooks --------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _webhook_health(url: str, filters: AnalyticsFilters) -> WebhookHealth:

    return analytics_webhooks.webhook_health(_engine(url), filters)


def webhook_health(filters: AnalyticsFilters) -> WebhookHealth:
    return _webhook_health(database_url(), filters)


# --- mismatches ------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _mismatches(url: str, rule: str | None, status: str | None, limit: int) -> pd.DataFrame:
    return analytics_mismatches.list_mismatches(_engine(url), rule=rule, status=status, limit=limit)


def mismatches(*, rule: str | None = None, status: str | None = None, limit: int = 1000) -> pd.DataFrame:
    return _mismatches(database_url(), rule, status, limit)


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _mismatch_summary(url: str) -> pd.DataFrame:
    return analytics_mismatches.mismatch_summary(_engine(url))


def mismatch_summary() -> pd.DataFrame:
    return _mismatch_summary(database_url())


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


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _settlement_waterfalls(url: str, filters: AnalyticsFilters) -> list[SettlementWaterfall]:
    return queries_settlements.settlement_waterfalls(_engine(url), filters)


def settlement_waterfalls(filters: AnalyticsFilters) -> list[SettlementWaterfall]:
    return _settlement_waterfalls(database_url(), filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _settlements(url: str, filters: AnalyticsFilters) -> pd.DataFrame:
    return queries_settlements.settlements(_engine(url), filters)


def settlements(filters: AnalyticsFilters) -> pd.DataFrame:
    return _settlements(database_url(), filters)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _pending_settlement(url: str, filters: AnalyticsFilters) -> pd.DataFrame:
    return queries_settlements.pending_settlement(_engine(url), filters)


def pending_settlement(filters: AnalyticsFilters) -> pd.DataFrame:
    return _pending_settlement(database_url(), filters)


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _settlement_lines(url: str, settlement_id: str) -> pd.DataFrame:
    return queries_settlements.settlement_lines(_engine(url), settlement_id)


def settlement_lines(settlement_id: str) -> pd.DataFrame:
    return _settlement_lines(database_url(), settlement_id)


# --- payments --------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _find_payments(url: str, text: str) -> pd.DataFrame:
    return queries_payments.find_payments(_engine(url), text)


def find_payments(text: str) -> pd.DataFrame:
    return _find_payments(database_url(), text)


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _payment_story(url: str, payment_id: str) -> PaymentStory | None:
    return queries_payments.payment_story(_engine(url), payment_id)


def payment_story(payment_id: str) -> PaymentStory | None:
    return _payment_story(database_url(), payment_id)


# --- sync ------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _sync_status(url: str) -> list[dict[str, Any]]:
    from sync.cli import status_rows

    return status_rows(_engine(url))


def sync_status() -> list[dict[str, Any]]:
    """`python -m sync status --json`'s rows: entity, checkpoint, lag_seconds, rows, quarantined, last_run."""
    return _sync_status(database_url())


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _sync_runs(url: str) -> pd.DataFrame:
    return queries_sync.sync_runs(_engine(url))


def sync_runs() -> pd.DataFrame:
    return _sync_runs(database_url())


@st.cache_data(ttl=TTL_DETAIL_SECONDS, show_spinner=False)
def _quarantined(url: str) -> pd.DataFrame:
    return queries_sync.quarantined_records(_engine(url))


def quarantined_records() -> pd.DataFrame:
    return _quarantined(database_url())


# --- audit -----------------------------------------------------------------------------------------


def record_audit(*, actor: str, action: str, target: str | None, detail: Mapping[str, Any]) -> None:
    """One audit_log row (exports, sign-ins, manual sync runs): who, what, when."""
    with engine().begin() as conn:
        data_audit.record_audit(conn, actor=actor, action=action, target=target, detail=detail)
