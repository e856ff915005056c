"""Tiered look-back (sync.tiers): the settings' tiers, which one is due, and — against the sandbox's
moving time with its webhooks landing — runs that end with exact parity for a small share of the
requests today's every-run full look-back makes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from data.sync_state import advance_checkpoint
from sync.tiers import LookbackTier, due_tier, parse_tiers, tier_checkpoint
from tests.support.sandbox import SandboxHandle
from tests.support.sync_helpers import assert_parity
from tests.support.tiered import run_tiered

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def test_tiers_parse_from_the_setting_shallowest_first() -> None:
    tiers = parse_tiers("full@1d, 30m@run ,6h@1h")
    assert tiers == (
        LookbackTier(timedelta(minutes=30), timedelta(0)),
        LookbackTier(timedelta(hours=6), timedelta(hours=1)),
        LookbackTier(None, timedelta(days=1)),
    )
    assert [t.label for t in tiers] == ["30m@run", "6h@1h", "full@1d"]
    assert tiers[0].for_entity(timedelta(days=3)) == timedelta(minutes=30)
    assert tiers[2].for_entity(timedelta(days=7)) == timedelta(days=7)  # each entity's own look-back
    assert parse_tiers("") == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("30m@run", "full tier"),
        ("full@1h", "every run"),
        ("30m", "<look-back>@<every>"),
        ("30 minutes@run,full@1h", "duration"),
    ],
)
def test_tiers_without_a_full_pass_or_an_every_run_read_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_tiers(text)


def test_the_deepest_tier_due_is_chosen(engine: Engine) -> None:
    tiers = parse_tiers("30m@run,6h@1h,full@1d")
    with engine.begin() as conn:
        assert due_tier(conn, tiers, T0).label == "full@1d"  # never ran
        for tier in tiers:
            advance_checkpoint(conn, tier_checkpoint(tier), T0, 1)
        assert due_tier(conn, tiers, T0 + timedelta(minutes=59)).label == "30m@run"
        assert due_tier(conn, tiers, T0 + timedelta(hours=1)).label == "6h@1h"
        assert due_tier(conn, tiers, T0 + timedelta(days=1)).label == "full@1d"


@pytest.mark.slow(seconds=60)
def test_runs_every_5_minutes_for_2_hours_end_in_parity_for_a_tenth_of_todays_requests(
    engine: Engine, database_url: str, sandbox_factory: Callable[..., SandboxHandle]
) -> None:
    # bench/bench_sync_tiers.py runs the same over 2 simulated days (576 runs, a daily full pass).
    sandbox = sandbox_factory(seed=21, days=4, payments_per_day=6000)
    tiers = parse_tiers("30m@run,full@2h")
    outcome = run_tiered(engine, sandbox, database_url, tiers=tiers, every=timedelta(minutes=5), runs=24)

    labels = [run.tier for run in outcome.runs]
    assert labels == ["30m@run"] * 23 + ["full@2h"]
    assert outcome.webhooks_stored > 0
    # Webhooks named older records that changed (captures, refunds, late authorisations): fetched by id.
    assert outcome.by_id > 0
    assert_parity(engine, sandbox)
    # Today every run re-reads the full look-back: each costs what the last (full) run's lists cost.
    todays = len(outcome.runs) * outcome.list_requests(outcome.runs[-1])
    assert outcome.requests * 10 <= todays, (outcome.requests, todays)
