"""The pages on data that went the real way: the sandbox's API → the sync (real SDK over HTTP) → rollups →
reconciliation. The figures each role sees equal analytics' own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from analytics import mismatches, settlements, success
from analytics.filters import Filters
from analytics.reconcile import reconcile
from dashboard import widgets
from dashboard.filters import from_query
from dashboard.format import count, percent
from dashboard.roles import Role
from data.db import make_engine
from data.settings import Settings
from sync.http import make_client
from sync.pull import SyncOptions, run_sync
from tests.dashboard.conftest import Seeded
from tests.support.databases import BACKENDS, MigratedDatabase, drop_database
from tests.support.sandbox import SandboxHandle


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sandbox: SandboxHandle,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    """Overrides the hand-made seed of conftest: this module's database is synced from the sandbox."""
    backend = str(request.param)
    url = migrated_database(backend, tmp_path_factory.mktemp("dashboard-sandbox-db"))
    engine = make_engine(url)
    settings = Settings(
        database_url=url,
        razorpay_base_url=sandbox.base_url,
        razorpay_key_id=sandbox.key_id,
        razorpay_key_secret=SecretStr(sandbox.key_secret),
    )
    run_sync(engine, make_client(settings), SyncOptions(trigger="cli"))
    reconcile(engine)
    yield Seeded(url, engine, {})
    engine.dispose()
    drop_database(backend, url)


def preset(name: str) -> Filters:
    """The analytics filters behind a period preset (whole IST days ending yesterday)."""
    filters = from_query({"period": name})
    assert filters is not None
    return filters.to_analytics()


def _metrics(at: Any) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("role", list(Role))
def test_overview_for_every_role_equals_analytics(app_for: Any, seeded: Seeded, role: Role) -> None:
    at = app_for(role, "overview", period="last_7_days")
    assert not at.exception
    expected = success.kpis(seeded.engine, preset("last_7_days"), compare_previous=True)
    assert expected.attempts > 1000  # 300 a day from the sandbox
    shown = _metrics(at)
    assert shown["Payment attempts"] == count(expected.attempts)
    assert shown["Success rate"] == percent(expected.success_rate)
    assert shown["Failed payments"] == count(expected.failures)


def test_success_rates_by_mode_on_sandbox_data(app_for: Any, seeded: Seeded) -> None:
    at = app_for(Role.MANAGER, "success_rates", period="last_30_days")
    # The sandbox holds 10 days, so the 30 days before "last 30 days" have no data: no comparison.
    expected = success.success_rates(seeded.engine, "method", preset("last_30_days"))
    shown = next(d.value for d in at.dataframe if {"method", "attempts"} <= set(d.value.columns))
    assert list(shown["method"]) == list(expected["method"])
    assert list(shown["attempts"]) == list(expected["attempts"])
    assert {"upi", "card", "netbanking"} <= set(shown["method"])


def test_settlements_and_mismatches_on_sandbox_data(app_for: Any, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "settlements", period="last_30_days")
    waterfalls = settlements.settlement_waterfalls(seeded.engine, preset("last_30_days"))
    inr = next(w for w in waterfalls if w.currency == "INR")
    # "Net settled" is what the bank received (the INR payouts), as a card three to a row shows it:
    # exact where it fits, else lakh/crore.
    listed = settlements.settlements(seeded.engine, preset("last_30_days"))
    payout = int(listed[listed["currency"] == "INR"]["amount"].sum())
    assert inr.net != 0
    assert (
        _metrics(at)["Net settled"]
        == widgets.fitted(widgets.money_kpi("Net settled", payout, "INR"), 3).value
    )

    at.switch_page("../pages/mismatches.py").run()
    assert not at.exception
    summary = mismatches.mismatch_summary(seeded.engine)
    assert _metrics(at)["Open"] == count(int(summary[summary["status"] == "open"]["count"].sum()))
