"""`python -m analytics alerts …` and the apprise notifications, delivered to a local HTTP sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update
from typer.testing import CliRunner

from analytics import alerts
from analytics.__main__ import app
from analytics.notify import notify_evaluation
from data.models import AuditLog, SyncCheckpoint

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
runner = CliRunner()


def _stale_sync(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(SyncCheckpoint).values(entity="payments", synced_until=T0, run_id=None))


class _Sink(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Sink", (_Sink,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/payops-alerts", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_fired_and_resolved_alerts_are_delivered_through_apprise(
    engine: Engine, sink: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = sink
    _stale_sync(engine)
    at = T0 + timedelta(hours=3)
    evaluation = alerts.evaluate(engine, at=at, only=["sync_stale"])
    sent = notify_evaluation(engine, evaluation, urls=[url], dashboard_url="http://ops.example:8501/", at=at)

    assert sent == 1
    assert [delivery["path"] for delivery in received] == ["/payops-alerts"]
    body = received[0]["body"]
    alert_id = evaluation.fired[0]["id"]
    assert body["title"] == "[payops FIRING] Sync is stale"
    assert body["type"] == "failure"
    assert "payments: synced only up to 24 Nov 2026 11:30 IST, 180 minutes before now" in body["message"]
    assert f"http://ops.example:8501/alerts?alert={alert_id}" in body["message"]
    assert "http://ops.example:8501/sync-status" in body["message"]
    stored = alerts.get_alert(engine, alert_id)
    assert stored is not None and stored["notified_at"] == at.isoformat()

    with engine.begin() as conn:
        conn.execute(update(SyncCheckpoint).values(synced_until=at))
    cleared = alerts.evaluate(engine, at=at, only=["sync_stale"])
    assert notify_evaluation(engine, cleared, urls=[url], dashboard_url="http://ops.example:8501", at=at) == 1
    assert received[1]["body"]["title"] == "[payops RESOLVED] Sync is stale"
    assert received[1]["body"]["type"] == "success"


def test_a_snoozed_alert_is_not_delivered(engine: Engine, sink: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = sink
    _stale_sync(engine)
    first = alerts.evaluate(engine, at=T0 + timedelta(hours=3), only=["sync_stale"]).fired[0]
    alerts.snooze(engine, first["id"], until=T0 + timedelta(days=1), by="asha", at=T0 + timedelta(hours=3))
    with engine.begin() as conn:
        conn.execute(update(SyncCheckpoint).values(synced_until=T0 + timedelta(hours=4)))
    cleared = alerts.evaluate(engine, at=T0 + timedelta(hours=4), only=["sync_stale"])
    assert len(cleared.resolved) == 1
    assert (
        notify_evaluation(engine, cleared, urls=[url], dashboard_url="http://x", at=T0 + timedelta(hours=4))
        == 0
    )
    assert received == []


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_cli_evaluate_list_ack_snooze(engine: Engine, database_url: str) -> None:
    _stale_sync(engine)
    at = (T0 + timedelta(hours=3)).isoformat()
    code, output = invoke("alerts", "evaluate", "--at", at, "--json", "--database-url", database_url)
    assert code == 0, output
    evaluation = json.loads(output)
    assert [alert["key"] for alert in evaluation["fired"]] == ["sync_stale:sync"]
    assert evaluation["notified"] == 0  # a back-test (--at) notifies no one unless asked
    alert_id = evaluation["fired"][0]["id"]

    code, output = invoke("alerts", "evaluate", "--at", at, "--database-url", database_url)
    assert code == 0 and "0 fired, 0 resolved, 1 still firing" in output

    code, output = invoke("alerts", "list", "--json", "--database-url", database_url)
    listed = json.loads(output)
    assert [(alert["id"], alert["status"], alert["category"]) for alert in listed] == [
        (alert_id, "firing", "sync")
    ]

    code, output = invoke("alerts", "ack", str(alert_id), "--by", "asha@ops", "--database-url", database_url)
    assert code == 0 and output.strip() == f"alert {alert_id}: acknowledged by asha@ops"
    until = "2099-01-01T00:00:00+00:00"
    code, output = invoke(
        "alerts", "snooze", str(alert_id), "--until", until, "--by", "ravi", "--database-url", database_url
    )
    assert code == 0, output
    stored = alerts.get_alert(engine, alert_id)
    assert stored is not None
    assert (stored["acknowledged_by"], stored["snoozed_by"], stored["snoozed_until"]) == (
        "asha@ops",
        "ravi",
        until,
    )
    with engine.connect() as conn:
        actions = conn.execute(select(AuditLog.action, AuditLog.actor).order_by(AuditLog.id)).all()
    assert [tuple(row) for row in actions] == [("alert.acknowledge", "asha@ops"), ("alert.snooze", "ravi")]


def test_cli_bad_input_is_one_line_and_non_zero(database_url: str) -> None:
    code, output = invoke("alerts", "evaluate", "--at", "yesterday", "--database-url", database_url)
    assert code == 2 and "--at must be an ISO datetime" in output
    code, output = invoke("alerts", "ack", "42", "--by", "asha", "--database-url", database_url)
    assert code == 2 and output.strip() == "alert 42 does not exist"
    code, output = invoke("alerts", "list", "--status", "open", "--database-url", database_url)
    assert code == 2 and "status must be firing or resolved" in output
