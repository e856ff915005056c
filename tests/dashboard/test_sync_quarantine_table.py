"""Sync status's quarantine table says its true count ("Showing 200 of M records") and its prepared
CSV holds all M records (issue 12, silent truncation)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dashboard.roles import Role
from data.models import Quarantine
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, MigratedDatabase

QUARANTINED = 230  # more than the table shows (200)


def _plant_quarantine(engine: Engine) -> None:
    seen = TEST_NOW - timedelta(hours=1)
    records = [
        {
            "id": 9_000 + n,
            "entity": "payments",
            "entity_id": f"pay_quar{n:08d}",
            "fingerprint": f"{n:064d}",
            "reason": "amount is not an integer",
            "raw": '{"amount": "12.5"}',
            "source": "api",
            "first_seen_at": seen - timedelta(minutes=n),
            "last_seen_at": seen - timedelta(minutes=n),
            "run_id": None,
        }
        for n in range(QUARANTINED)
    ]
    with engine.begin() as conn:
        upsert(conn, Quarantine, records)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "quarantine-db", plant=_plant_quarantine
    )


def test_quarantine_says_its_true_count_and_exports_every_record(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "sync_status")
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [
        f.value for f in at.dataframe if "fingerprint" not in f.value.columns and "raw" in f.value.columns
    ]
    assert len(shown) == 200
    # No cell reads "None" (issue 12): a record no run has picked up yet says "—" for its run.
    planted = shown[shown["entity_id"].str.startswith("pay_quar")]
    assert len(planted) > 0 and set(planted["run_id"]) == {"—"}
    assert all(v == "—" or (v.startswith("#") and v[1:].isdigit()) for v in shown["run_id"])
    assert not shown.isna().any().any()
    assert "Payments" in set(shown["entity"])  # the entity in words on screen; the CSV keeps `payments`
    captions = [c.value for c in at.caption]
    (caption,) = [c for c in captions if c.startswith("Showing 200 of ")]
    total = int(caption.removeprefix("Showing 200 of ").split(" ")[0].replace(",", ""))
    assert total >= QUARANTINED
    assert caption == f"Showing 200 of {total:,} records; the CSV has all {total:,}."
    prepare = next(b for b in at.button if b.key == "prepare_quarantine")
    assert prepare.label == f"Prepare CSV ({total:,} rows)"
    prepare.click().run()
    assert not at.exception, [e.value for e in at.exception]
    prepared = at.session_state["payops_exports"]["csv_quarantine"]
    rows = list(csv.DictReader(io.StringIO(prepared.data.decode("utf-8"))))
    assert len(rows) == total
    assert {f"pay_quar{n:08d}" for n in range(QUARANTINED)} <= {row["Entity id"] for row in rows}
    assert "payments" in {row["Entity"] for row in rows}  # finance and scripts join on the table name
