"""`python -m analytics alerts evaluate | list | ack | snooze`: the alert engine from the command line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics import alerts
from analytics.db import utcnow
from analytics.notify import notify_evaluation
from data.cli import ExitCode, fail
from data.db import make_engine
from data.ist import IST
from data.settings import get_settings

__all__ = ["alerts_app", "evaluate_and_notify", "parse_moment"]

alerts_app = typer.Typer(
    help="Alerts: evaluate the rules, list alerts, acknowledge or snooze one.",
    no_args_is_help=True,
    add_completion=False,
)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Database (default: DATABASE_URL / settings).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
By = Annotated[str, typer.Option("--by", help="Who decides (recorded on the alert and in the audit log).")]
AlertId = Annotated[int, typer.Argument(help="Alert id.")]


def parse_moment(value: str, option: str) -> datetime:
    """An ISO datetime (no zone = UTC), or a bare date = that IST day's midnight."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=IST).astimezone(UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise fail(
            f"{option} must be an ISO datetime (2026-11-24T09:30:00+05:30) or a date, not {value!r}",
            ExitCode.BAD_INPUT,
        ) from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _engine(database_url: str | None) -> Engine:
    try:
        return make_engine(database_url)
    except Exception as error:  # a malformed URL is bad input, said in one line
        raise fail(f"cannot open database: {error}", ExitCode.BAD_INPUT) from error


def _run(action: Any) -> Any:
    try:
        return action()
    except alerts.AlertError as error:  # an unknown id, or a request the alert's state refuses
        raise fail(str(error), ExitCode.BAD_INPUT) from error
    except SQLAlchemyError as error:
        raise fail(f"database error: {str(error).splitlines()[0]}", ExitCode.FAILED) from error
    except ValueError as error:
        raise fail(str(error), ExitCode.BAD_INPUT) from error


def evaluate_and_notify(
    engine: Engine, *, at: datetime, notify: bool = True
) -> tuple[alerts.Evaluation, int]:
    """Evaluate every rule at `at`, then notify what fired or resolved (if asked and URLs are set)."""
    evaluation = alerts.evaluate(engine, at=at)
    sent = 0
    if notify:
        settings = get_settings()
        sent = notify_evaluation(
            engine, evaluation, urls=settings.notify_urls, dashboard_url=settings.dashboard_url, at=at
        )
    return evaluation, sent


def summary_line(evaluation: alerts.Evaluation, sent: int) -> str:
    return (
        f"alerts at {evaluation.at.isoformat()}: {len(evaluation.fired)} fired, {len(evaluation.resolved)} "
        f"resolved, {evaluation.still_firing} still firing; {sent} notification(s) sent"
    )


@alerts_app.command("evaluate")
def evaluate_command(
    at: Annotated[
        str | None, typer.Option("--at", help="Evaluate as of this moment (default: now), for back-tests.")
    ] = None,
    notify: Annotated[
        bool | None,
        typer.Option("--notify/--no-notify", help="Send notifications (default: only when evaluating now)."),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Evaluate every alert rule and move the lifecycle (idempotent: one alert per condition)."""
    moment = parse_moment(at, "--at") if at is not None else utcnow()
    engine = _engine(database_url)
    evaluation, sent = _run(
        lambda: evaluate_and_notify(engine, at=moment, notify=notify if notify is not None else at is None)
    )
    if as_json:
        typer.echo(json.dumps({**evaluation.as_dict(), "notified": sent}, ensure_ascii=False, indent=2))
        return
    typer.echo(summary_line(evaluation, sent))
    for alert in evaluation.fired:
        typer.echo(f"  FIRED    #{alert['id']} [{alert['severity']}] {alert['title']}")
    for alert in evaluation.resolved:
        typer.echo(f"  RESOLVED #{alert['id']} {alert['title']}")


@alerts_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="firing | resolved (default: both).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 500,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Alerts, firing first (most severe, newest), then the history."""
    engine = _engine(database_url)
    rows = _run(lambda: alerts.list_alerts(engine, status=status, limit=limit))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("(no alerts)")
    for alert in rows:
        flags = "".join(
            [
                " ack:" + alert["acknowledged_by"] if alert["acknowledged_by"] else "",
                " snoozed" if alert["snoozed_until"] else "",
            ]
        )
        typer.echo(f"#{alert['id']:<5} {alert['status']:<8} {alert['severity']:<8} {alert['title']}{flags}")


@alerts_app.command("ack")
def ack_command(alert_id: AlertId, by: By, database_url: DatabaseUrl = None) -> None:
    """Acknowledge a firing alert (someone is on it)."""
    engine = _engine(database_url)
    _run(lambda: alerts.acknowledge(engine, alert_id, by=by, at=utcnow()))
    typer.echo(f"alert {alert_id}: acknowledged by {by.strip()}")


@alerts_app.command("snooze")
def snooze_command(
    alert_id: AlertId,
    until: Annotated[
        str, typer.Option("--until", help="No notifications for this condition until then (ISO).")
    ],
    by: By,
    database_url: DatabaseUrl = None,
) -> None:
    """Snooze an alert's notifications until a moment (a new episode before then stays snoozed)."""
    moment = parse_moment(until, "--until")
    engine = _engine(database_url)
    _run(lambda: alerts.snooze(engine, alert_id, until=moment, by=by, at=utcnow()))
    typer.echo(f"alert {alert_id}: snoozed until {moment.isoformat()} by {by.strip()}")
