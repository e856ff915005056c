"""`python -m analytics`: JSON output with values, and a one-line reason with a non-zero exit on bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from analytics.__main__ import app
from data.rollups import rebuild_all
from tests.support.factories import payment, write

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def loaded(engine: Engine, database_url: str) -> str:
    at = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)  # IST 2026-11-18
    with engine.begin() as conn:
        write(
            conn,
            "payments",
            payment("pay_1", method="upi", upi_app="ybl", created_at=at, amount=1_000),
            payment(
                "pay_2",
                method="upi",
                upi_app="ybl",
                status="failed",
                error_reason="payment_timed_out",
                created_at=at + timedelta(minutes=5),
            ),
            payment("pay_3", method="card", card_network="Visa", created_at=at - timedelta(days=10)),
        )
        rebuild_all(conn)
    return database_url


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_success_rates_json(loaded: str) -> None:
    code, output = invoke(
        "success-rates",
        "--by",
        "upi",
        "--from",
        "2026-11-18",
        "--to",
        "2026-11-18",
        "--json",
        "--database-url",
        loaded,
    )
    assert code == 0, output
    assert json.loads(output) == [
        {"upi_app": "ybl", "attempts": 2, "successes": 1, "failures": 1, "created": 0, "success_rate": 0.5}
    ]
    code, output = invoke(
        "success-rates",
        "--by",
        "method",
        "--from",
        "2026-11-18",
        "--to",
        "2026-11-18",
        "--compare",
        "--json",
        "--database-url",
        loaded,
    )
    assert code == 0, output
    assert [(row["method"], row["prev_attempts"]) for row in json.loads(output)] == [("upi", 0)]


def test_reconcile_and_mismatches_json(loaded: str) -> None:
    code, output = invoke("reconcile", "--now", NOW.isoformat(), "--json", "--database-url", loaded)
    assert code == 0, output
    assert json.loads(output)["found"]["captured_not_settled"] == 1  # pay_3, ten days old
    code, output = invoke("mismatches", "--status", "open", "--json", "--database-url", loaded)
    assert code == 0, output
    rows = json.loads(output)
    assert [(row["rule"], row["payment_id"], row["expected_amount"], row["status"]) for row in rows] == [
        ("captured_not_settled", "pay_3", 10_000, "open")
    ]
    assert rows[0]["explanation"]
    code, output = invoke(
        "acknowledge", str(rows[0]["id"]), "--actor", "ops@example.com", "--database-url", loaded
    )
    assert code == 0, output
    code, output = invoke("mismatches", "--status", "acknowledged", "--json", "--database-url", loaded)
    assert [row["updated_by"] for row in json.loads(output)] == ["ops@example.com"]


def test_webhook_health_and_rebuild(loaded: str) -> None:
    code, output = invoke("webhook-health", "--json", "--database-url", loaded)
    assert code == 0, output
    assert json.loads(output)["by_type_day"] == []
    code, output = invoke("rebuild-rollups", "--database-url", loaded)
    assert (code, output.strip()) == (0, "rebuilt 2 hourly buckets")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["success-rates", "--by", "colour"], "unknown dimension"),
        (["success-rates", "--by", "method", "--from", "18-11-2026"], "--from must be a date"),
        (["success-rates", "--by", "method", "--from", "2026-11-19", "--to", "2026-11-18"], "is after"),
        (["success-rates", "--by", "method", "--compare"], "--compare needs"),
        (["mismatches", "--rule", "nope"], "unknown rule"),
        (["mismatches", "--status", "closed"], "status must be one of"),
        (["reconcile", "--now", "yesterday"], "--now must be an ISO datetime"),
    ],
)
def test_bad_input_exits_non_zero_with_a_reason(tmp_path: Path, args: list[str], reason: str) -> None:
    # Refused before the database is touched, so any backend answers the same.
    code, output = invoke(*args, "--database-url", f"sqlite:///{tmp_path / 'unused.db'}")
    assert code == 2  # bad input (docs/cli.md)
    assert reason in output
    assert len(output.strip().splitlines()) == 1


def test_deciding_on_an_unknown_mismatch_fails(loaded: str) -> None:
    code, output = invoke("resolve", "999", "--actor", "ops", "--database-url", loaded)
    assert (code, output.strip()) == (2, "mismatch 999 does not exist")
