"""Exports and truncation on the pages: true counts, "Showing N of M", every row in the CSV, an export
file only after an explicit, audited action, and data values shown as text (never as markdown)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from analytics.reconcile import reconcile
from dashboard.format import plain
from dashboard.roles import Role
from data.db import make_engine
from data.models import AuditLog, Payment, Settlement, SettlementLine
from data.upsert import upsert
from tests.dashboard.conftest import AppFactory, Seeded
from tests.support.clock import TEST_NOW
from tests.support.dashboard_seed import payment_row, seed_dashboard_database, settlement_line
from tests.support.databases import BACKENDS, MigratedDatabase, drop_database
from tests.support.exports import prepared_csv

BIG_SETTLEMENT = "setl_big0000001"
BIG_LINES = 1_635
BEACON_EMAIL = "![b](http://127.0.0.1:9/beacon.png)"
FORMULA_EMAIL = '=HYPERLINK("http://evil.example/x","click")'


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_database: MigratedDatabase,
) -> Iterator[Seeded]:
    """The dashboard seed plus a settlement of 1,635 lines (more than a page shows) and two payments
    whose emails are hostile: a markdown image and a spreadsheet formula."""
    backend = str(request.param)
    url = migrated_database(backend, tmp_path_factory.mktemp("exports-db"))
    engine = make_engine(url)
    facts = seed_dashboard_database(engine, now=TEST_NOW)
    rng = random.Random(11)
    settled_at = TEST_NOW - timedelta(days=1)
    big = []
    for n in range(BIG_LINES):
        row = payment_row(100_000 + n, TEST_NOW - timedelta(days=3, seconds=n), rng)
        row.update(status="captured", captured=True, currency="INR", method="upi", error_reason=None)
        row.update(fee=row["amount"] * 2 // 100, tax=0, country="IN")
        big.append(row)
    hostile = [
        dict(big[0], id="pay_beacon000001", email=BEACON_EMAIL),
        dict(big[1], id="pay_formula00001", email=FORMULA_EMAIL),
    ]
    lines = [
        settlement_line(r, settlement_id=BIG_SETTLEMENT, utr="UTRBIG", settled_at=settled_at) for r in big
    ]
    with engine.begin() as conn:
        upsert(conn, Payment, big + hostile)
        upsert(conn, SettlementLine, lines)
        upsert(
            conn,
            Settlement,
            [
                {
                    "id": BIG_SETTLEMENT,
                    "amount": sum(line["credit"] for line in lines),
                    "currency": "INR",
                    "status": "processed",
                    "fees": sum(line["fee"] for line in lines),
                    "tax": 0,
                    "utr": "UTRBIG",
                    "created_at": settled_at,
                    "state_at": settled_at,
                    "source": "api",
                    "raw": {"id": BIG_SETTLEMENT},
                }
            ],
        )
    reconcile(engine, now=TEST_NOW)
    yield Seeded(url, engine, facts)
    engine.dispose()
    drop_database(backend, url)


def _audit(seeded: Seeded, action: str) -> list[Any]:
    with seeded.engine.connect() as conn:
        return list(conn.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _numbers(values: Any) -> list[float]:
    """A plotly trace's values: a list, or plotly's typed-array form {"dtype", "bdata"}."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return [float(v) for v in np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])]
    return [float(v) for v in values]


def _captions(at: Any) -> list[str]:
    return [c.value for c in at.caption]


def test_settlement_lines_say_how_many_and_the_csv_holds_every_line(
    app_for: AppFactory, seeded: Seeded
) -> None:
    at = app_for(Role.FINANCE, "settlements", period="last_30_days")
    at.selectbox(key="settlement_drill").set_value(BIG_SETTLEMENT).run()
    assert not at.exception, [e.value for e in at.exception]
    (lines,) = [
        f.value for f in at.dataframe if "credit_shown" in f.value.columns and "entity_id" in f.value.columns
    ]
    assert len(lines) == 1_000
    assert "Showing 1,000 of 1,635 lines; the CSV has all 1,635." in _captions(at)
    # No export file exists until it is asked for: no download button, nothing in Streamlit's media.
    assert [b.key for b in at.get("download_button")] == []
    before = len(_audit(seeded, "export_csv"))
    prepare = next(b for b in at.button if b.key == f"prepare_settlement-lines-{BIG_SETTLEMENT}")
    assert prepare.label == "Prepare CSV (1,635 rows)"
    prepare.click().run()
    assert not at.exception, [e.value for e in at.exception]
    exported = _audit(seeded, "export_csv")
    assert len(exported) == before + 1
    newest = exported[-1]
    assert (newest.actor, newest.target) == ("finance-tester", "settlements")
    assert (
        newest.detail["rows"] == BIG_LINES and newest.detail["export"] == f"settlement-lines-{BIG_SETTLEMENT}"
    )
    assert [
        b.proto.id.endswith(f"download_{'settlement-lines-' + BIG_SETTLEMENT}")
        for b in at.get("download_button")
    ] == [True]
    rows = prepared_csv(at, f"settlement-lines-{BIG_SETTLEMENT}")
    assert len(rows) == BIG_LINES
    assert {"Entity id", "Amount (minor units)", "Settled at (IST)", "Currency"} <= set(rows[0])
    assert sum(int(r["Amount (minor units)"]) for r in rows) == sum(
        int(v)
        for v in seeded.engine.connect()
        .execute(select(SettlementLine.amount).where(SettlementLine.settlement_id == BIG_SETTLEMENT))
        .scalars()
    )


def test_search_by_settlement_counts_every_payment(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=BIG_SETTLEMENT)
    assert not at.exception, [e.value for e in at.exception]
    assert "1,635 payments match" in _captions(at)
    assert "Showing 50 of 1,635 payments; the CSV has all 1,635." in _captions(at)
    next(b for b in at.button if b.key == "prepare_payment-search").click().run()
    assert len(prepared_csv(at, "payment-search")) == BIG_LINES


def test_email_search_is_audited_with_the_term_and_shown_as_text(app_for: AppFactory, seeded: Seeded) -> None:
    before = len(_audit(seeded, "search_contact"))
    at = app_for(Role.FINANCE, "payments", q=BEACON_EMAIL)
    assert not at.exception, [e.value for e in at.exception]
    searches = _audit(seeded, "search_contact")
    assert len(searches) == before + 1
    assert searches[-1].detail == {"kind": "email", "term": BEACON_EMAIL, "matches": 1}
    # The markdown carries the escaped text: no image, so the browser fetches nothing.
    details = [m.value for m in at.markdown if "**Email**" in m.value]
    assert details and plain(BEACON_EMAIL) in details[0]
    assert "![b](" not in " ".join(m.value for m in at.markdown)


def test_a_formula_email_is_neutralised_in_the_csv(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=FORMULA_EMAIL)
    assert not at.exception, [e.value for e in at.exception]
    next(b for b in at.button if b.key == "prepare_payment-search").click().run()
    (row,) = prepared_csv(at, "payment-search")
    assert row["Email"] == "'" + FORMULA_EMAIL
    assert row["Amount (minor units)"].isdigit()


def test_a_prepared_export_is_gone_once_downloaded(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=BIG_SETTLEMENT)
    next(b for b in at.button if b.key == "prepare_payment-search").click().run()
    at.get("download_button")[0].click().run()  # type: ignore[union-attr]
    assert not at.exception, [e.value for e in at.exception]
    # Streamlit keeps a removed download's file for one more sweep, so this download still completes.
    assert len(at.get("download_button")) == 0
    assert any(b.key == "prepare_payment-search" for b in at.button)
    assert "csv_payment-search" not in at.session_state["payops_exports"]


def test_a_prepared_export_is_gone_after_sign_out(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.FINANCE, "payments", q=BIG_SETTLEMENT)
    next(b for b in at.button if b.key == "prepare_payment-search").click().run()
    assert len(at.get("download_button")) == 1
    from dashboard.auth import SESSION_KEY, SignedInUser

    at.session_state[SESSION_KEY] = SignedInUser(name="someone-else", role=Role.FINANCE, method="password")
    at.run()
    assert len(at.get("download_button")) == 0


def test_tables_speak_in_words(app_for: AppFactory, seeded: Seeded) -> None:
    # pay_seed000002 is a netbanking payment from SBIN (tests/support/dashboard_seed.py).
    at = app_for(Role.FINANCE, "payments", q="pay_seed000002")
    assert not at.exception, [e.value for e in at.exception]
    found = at.dataframe(key="table_payment-search").value
    assert list(found["bank"]) == ["State Bank of India (SBIN)"]
    assert list(found["card_network"]) == ["—"]  # not "None"
    assert any(b.label == "Prepare CSV (1 row)" for b in at.button)


def test_every_missing_webhook_is_counted_and_exported(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "webhook_health", period="last_30_days")
    missing = next(f.value for f in at.dataframe if "expected_event" in f.value.columns)
    assert len(missing) == 1_000  # the big settlement's 1,635 captures have no webhook
    total = next(m.value for m in at.metric if m.label == "Missing events")
    assert (
        total != "1,000"
        and _captions(at).count(f"Showing 1,000 of {total} rows; the CSV has all {total}.") == 1
    )
    next(b for b in at.button if b.key == "prepare_webhook-missing").click().run()
    assert f"{len(prepared_csv(at, 'webhook-missing')):,}" == total


def test_webhook_problem_tables_have_worded_headers(app_for: AppFactory, seeded: Seeded) -> None:
    at = app_for(Role.OPERATIONS, "webhook_health", period="last_30_days")
    assert not at.exception, [e.value for e in at.exception]
    rejected = next(f for f in at.dataframe if "expected_event" in f.value.columns)
    config = json.loads(rejected.proto.columns)
    labels = {name: column.get("label") for name, column in config.items() if isinstance(column, dict)}
    assert labels["expected_event"] == "Expected event" and labels["entity_id"] == "Entity id"
    shown = [str(label) for name, label in labels.items() if name in rejected.value.columns]
    assert shown and not any("_" in label for label in shown), shown


def test_mismatch_cards_and_charts_count_every_unresolved_one(app_for: AppFactory, seeded: Seeded) -> None:
    from sqlalchemy import func

    from data.models import Mismatch

    with seeded.engine.connect() as conn:
        unresolved = conn.execute(
            select(func.count()).select_from(Mismatch).where(Mismatch.status.in_(("open", "acknowledged")))
        ).scalar_one()
        every = conn.execute(select(func.count()).select_from(Mismatch)).scalar_one()
    assert unresolved > 1_000  # more than a table holds (the big settlement's missing webhooks)
    at = app_for(Role.FINANCE, "mismatches")
    assert not at.exception, [e.value for e in at.exception]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_age = next(spec for spec in charts if "Unresolved by age" in json.dumps(spec.get("layout", {})))
    assert sum(_numbers(by_age["data"][0]["y"])) == unresolved
    assert f"Showing 1,000 of {every:,} mismatches (newest first); the CSV has all {every:,}." in _captions(
        at
    )
    next(b for b in at.button if b.key == "prepare_mismatches").click().run()
    assert len(prepared_csv(at, "mismatches")) == every
