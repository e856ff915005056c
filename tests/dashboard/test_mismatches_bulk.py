"""The Mismatches page's bulk work: the worklist (mine first) and one action on every filtered mismatch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from dashboard.roles import Role
from data.db import make_engine
from data.migrate import upgrade
from data.models import AuditLog, Mismatch
from tests.analytics.test_mismatch_bulk import _mismatch
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW
from tests.support.databases import BACKENDS, drop_database, new_database_url


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    backend = str(request.param)
    url = new_database_url(backend, tmp_path_factory.mktemp("bulk-page-db"))
    engine = make_engine(url)
    upgrade(engine)
    now = TEST_NOW
    with engine.begin() as conn:
        conn.execute(
            insert(Mismatch),
            [
                _mismatch(
                    n,
                    first_seen_at=now - timedelta(days=1),
                    last_seen_at=now,
                    evidence_at=now - timedelta(days=10),
                )
                for n in range(1, 6)
            ]
            + [
                _mismatch(
                    9,
                    rule="fee_rate_anomaly",
                    key="fee_rate_anomaly:pay_9",
                    first_seen_at=now,
                    last_seen_at=now,
                )
            ],
        )
    yield Seeded(url, engine, {})
    engine.dispose()
    drop_database(backend, url)


def test_finance_resolves_every_filtered_mismatch_at_once(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "mismatches")
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="mismatch_rule").set_value("captured_not_settled").run()
    worklist = next(f.value for f in at.dataframe if "age_bucket" in f.value.columns)
    assert worklist.to_dict(orient="records") == [
        {"owner": "unassigned", "mine": False, "age_bucket": "8–30 days", "count": 5, "overdue": 5}
    ]
    at.radio(key="mismatch_bulk_action").set_value("resolve")
    at.selectbox(key="mismatch_bulk_reason").set_value("timing")
    at.text_area(key="mismatch_bulk_note").input("paid out late")
    next(button for button in at.button if button.label == "Apply to all of them").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("resolve: 5 mismatches" in message.value for message in at.success)
    with seeded.engine.connect() as conn:
        statuses = dict(conn.execute(select(Mismatch.payment_id, Mismatch.status)).all())
        audit = (
            conn.execute(select(AuditLog.detail).where(AuditLog.action == "mismatch.bulk_resolve"))
            .scalars()
            .all()
        )
    assert statuses == {**{f"pay_{n}": "resolved" for n in range(1, 6)}, "pay_9": "open"}
    assert (
        len(audit) == 1 and audit[0]["count"] == 5 and audit[0]["filter"] == {"rule": "captured_not_settled"}
    )
