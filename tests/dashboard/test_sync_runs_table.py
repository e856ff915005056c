"""Sync status's "Last runs" says "Showing the latest 20 of M runs" (a COUNT) and its prepared CSV holds
all M runs, with the rows written summed over entities as on screen (issue 12, silent truncation)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from dashboard.queries import SYNC_RUNS_LISTED
from dashboard.roles import Role
from data.models import SyncRun
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, MigratedDatabase

RUNS = SYNC_RUNS_LISTED + 15


def _plant_runs(engine: Engine) -> None:
    runs = [
        {
            "id": 7_000 + n,
            "started_at": TEST_NOW - timedelta(hours=RUNS - n),
            "finished_at": TEST_NOW - timedelta(hours=RUNS - n, minutes=-2),
            "status": "succeeded",
            "trigger": "schedule",
            "counts": {"payments": {"upserted": n, "quarantined": 0}, "refunds": {"upserted": 1}},
            "error": None,
        }
        for n in range(RUNS)
    ]
    with engine.begin() as conn:
        conn.execute(insert(SyncRun), runs)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "sync-runs-db", plant=_plant_runs
    )


def test_last_runs_say_their_true_count_and_export_every_run(app_for: AppFactory, seeded: Seeded) -> None:
    with seeded.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(SyncRun)).scalar_one()
    assert total >= RUNS  # the planted runs (and any the seed recorded)
    at = app_for(Role.OPERATIONS, "sync_status")
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [f.value for f in at.dataframe if "trigger" in f.value.columns]
    assert len(shown) == SYNC_RUNS_LISTED
    # A run without an error reads "—", never "None" (issue 12, human labels).
    assert shown["error"].notna().all() and "None" not in set(shown["error"]), set(shown["error"])
    captions = [c.value for c in at.caption]
    assert f"Showing the latest {SYNC_RUNS_LISTED} of {total} runs; the CSV has all {total}." in captions
    prepare = next(b for b in at.button if b.key == "prepare_sync-runs")
    assert prepare.label == f"Prepare CSV ({total} rows)"
    prepare.click().run()
    assert not at.exception, [e.value for e in at.exception]
    prepared = at.session_state["payops_exports"]["csv_sync-runs"]
    rows = list(csv.DictReader(io.StringIO(prepared.data.decode("utf-8"))))
    assert len(rows) == total
    written = {int(row["Id"]): int(row["Upserted"]) for row in rows}
    assert {run: written.get(run) for run in range(7_000, 7_000 + RUNS)} == {
        7_000 + n: n + 1 for n in range(RUNS)
    }
