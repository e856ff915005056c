"""The disputes page's open-disputes table says its true count ("Showing 1,000 of M disputes") and
its prepared CSV holds all M (issue 12, silent truncation)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dashboard.roles import Role
from data.models import Dispute
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded, seeded_database
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, MigratedDatabase

OPEN = 1_030  # more than the table shows (1,000)


def _plant_open_disputes(engine: Engine) -> None:
    opened = TEST_NOW - timedelta(days=2)
    disputes = [
        {
            "id": f"disp_open{n:07d}",
            "payment_id": f"pay_disp{n:08d}",
            "amount": 10_000 + n,
            "amount_deducted": 0,
            "currency": "INR",
            "reason_code": "chargeback",
            "reason_description": None,
            "phase": "chargeback",
            "status": "open",
            "respond_by": TEST_NOW + timedelta(hours=n),
            "created_at": opened,
            "state_at": opened,
            "source": "api",
            "raw": {"id": f"disp_open{n:07d}"},
        }
        for n in range(OPEN)
    ]
    with engine.begin() as conn:
        upsert(conn, Dispute, disputes)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    yield from seeded_database(
        request, tmp_path_factory, migrated_database, "open-disputes-db", plant=_plant_open_disputes
    )


def test_open_disputes_say_their_true_count_and_export_every_dispute(
    app_for: AppFactory, seeded: Seeded
) -> None:
    at = app_for(Role.FINANCE, "disputes")
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = [f.value for f in at.dataframe if "hours_left" in f.value.columns]
    assert len(shown) == 1_000
    (caption,) = [c.value for c in at.caption if c.value.startswith("Showing 1,000 of ")]
    total = int(caption.removeprefix("Showing 1,000 of ").split(" ")[0].replace(",", ""))
    assert total >= OPEN
    assert caption == f"Showing 1,000 of {total:,} disputes; the CSV has all {total:,}."
    prepare = next(b for b in at.button if b.key == "prepare_open-disputes")
    assert prepare.label == f"Prepare CSV ({total:,} rows)"
    prepare.click().run()
    assert not at.exception, [e.value for e in at.exception]
    prepared = at.session_state["payops_exports"]["csv_open-disputes"]
    rows = list(csv.DictReader(io.StringIO(prepared.data.decode("utf-8"))))
    assert len(rows) == total
    assert {f"disp_open{n:07d}" for n in range(OPEN)} <= {row["Id"] for row in rows}
    # Hours left is computed for streamed rows as for the table's (the last planted dispute: n hours).
    last = next(row for row in rows if row["Id"] == f"disp_open{OPEN - 1:07d}")
    assert last["Hours left"] == str(OPEN - 1)
