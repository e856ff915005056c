"""dashboard/queries.py's @cached: each query keeps its name and signature, and is cached under the
database URL plus its own arguments, so neither two databases nor two queries share an entry."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine

from analytics import sync_health
from analytics.filters import Filters
from dashboard import queries
from data.db import make_engine
from data.migrate import upgrade
from data.rollups import rebuild_all
from tests.support.factories import payment, write

AT = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
# kpis compares with the previous period by default, which needs both ends.
DAY = Filters(date_from=date(2026, 11, 18), date_to=date(2026, 11, 18))


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def migrated(url: str, *methods: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        rows = [payment(f"pay_{i}", method=m, created_at=AT) for i, m in enumerate(methods)]
        write(conn, "payments", *rows)
        rebuild_all(conn)
    return engine


def test_a_cached_query_keeps_its_name_and_signature_without_the_engine() -> None:
    assert queries.kpis.__name__ == "kpis"
    assert queries.kpis.__module__ == "dashboard.queries"
    parameters = inspect.signature(queries.kpis).parameters
    assert list(parameters) == ["filters", "compare_previous"]
    assert parameters["compare_previous"].default is True
    assert parameters["compare_previous"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(queries.filter_options).parameters) == []


def test_the_database_url_and_the_arguments_are_the_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_url, second_url = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    first = migrated(first_url, "upi", "upi", "card")
    migrated(second_url, "netbanking")
    url = first_url
    monkeypatch.setattr(queries, "database_url", lambda: url)

    assert queries.filter_options()["method"] == ["card", "upi"]
    assert queries.kpis(DAY).attempts == 3
    assert queries.kpis(replace(DAY, method="upi")).attempts == 2  # other arguments, other entry

    # Another database is another entry, never the first one's figures.
    url = second_url
    assert queries.filter_options()["method"] == ["netbanking"]
    assert queries.kpis(DAY).attempts == 1

    # Same database, same arguments (named or left to their defaults): the cached figure, even
    # after the data changed underneath, until the caches are cleared.
    url = first_url
    with first.begin() as conn:
        write(conn, "payments", payment("pay_new", method="wallet", created_at=AT))
        rebuild_all(conn)
    assert queries.kpis(DAY, compare_previous=True).attempts == 3
    queries.clear_caches()
    assert queries.kpis(DAY).attempts == 4


def test_two_queries_with_the_same_arguments_do_not_share_an_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    migrated(url, "upi")
    monkeypatch.setattr(queries, "database_url", lambda: url)
    # Same TTL, nothing but the engine as argument: a key without the query's own name would
    # hand the second query the first one's frame.
    runs = queries.sync_runs()
    quarantined = queries.quarantined_records()
    assert list(runs.columns) != list(quarantined.columns)
    assert list(quarantined.columns) == list(sync_health.quarantined_records(make_engine(url)).columns)
