"""`python -m analytics`: success rates, webhook health, reconciliation and rollups from the command line."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, cast

import pandas as pd
import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics import mismatches as lifecycle
from analytics.alerts_cli import alerts_app
from analytics.filters import Filters
from analytics.reconcile import MODES, Mode
from analytics.reconcile import reconcile as run_reconcile
from analytics.success import DIMENSIONS, normalise_dimension, success_rates
from analytics.webhook_health import webhook_health as compute_webhook_health
from data.cli import ExitCode, fail
from data.db import make_engine
from data.rollups import rebuild_all

app = typer.Typer(
    help="payops analytics: success rates, webhook health, reconciliation and rollups.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(alerts_app, name="alerts")

# Options several commands share.
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Database (default: DATABASE_URL / settings).")
]
DateFrom = Annotated[str | None, typer.Option("--from", help="First IST day, YYYY-MM-DD (inclusive).")]
DateTo = Annotated[str | None, typer.Option("--to", help="Last IST day, YYYY-MM-DD (inclusive).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MismatchId = Annotated[int, typer.Argument(help="Mismatch id.")]
Actor = Annotated[str, typer.Option("--actor", help="Who decides (recorded in the audit log).")]
Note = Annotated[str | None, typer.Option("--note", help="Why.")]


def _engine(database_url: str | None) -> Engine:
    try:
        return make_engine(database_url)
    except Exception as error:  # a malformed URL is bad input, said in one line
        raise fail(f"cannot open database: {error}", ExitCode.BAD_INPUT) from error


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise fail(f"{option} must be a date YYYY-MM-DD, not {value!r}", ExitCode.BAD_INPUT) from error


def _filters(
    date_from: str | None,
    date_to: str | None,
    currency: str | None = None,
    method: str | None = None,
    country: str | None = None,
) -> Filters:
    try:
        return Filters(
            date_from=_day(date_from, "--from"),
            date_to=_day(date_to, "--to"),
            currency=currency.upper() if currency else None,
            method=method,
            country=country,
        )
    except ValueError as error:
        raise fail(str(error), ExitCode.BAD_INPUT) from error


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, dict | list):
        return value.item()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(key): _jsonable(value) for key, value in record.items()}
        for record in frame.to_dict(orient="records")
    ]


def _print(payload: Any, as_json: bool, frame: pd.DataFrame | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=_jsonable, ensure_ascii=False, indent=2))
    elif frame is not None:
        typer.echo(frame.to_string(index=False) if len(frame) else "(no rows)")
    else:
        typer.echo(json.dumps(payload, default=_jsonable, ensure_ascii=False, indent=2))


def _run(action: Any) -> Any:
    try:
        return action()
    except SQLAlchemyError as error:
        raise fail(f"database error: {str(error).splitlines()[0]}", ExitCode.FAILED) from error
    except ValueError as error:  # analytics refuses bad filters, names and ids with ValueError
        raise fail(str(error), ExitCode.BAD_INPUT) from error


@app.command("success-rates")
def success_rates_command(
    by: Annotated[
        str,
        typer.Option("--by", help=f"Dimension: {', '.join(DIMENSIONS)} (aliases: network, issuer, upi)."),
    ],
    date_from: DateFrom = None,
    date_to: DateTo = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Only this currency, e.g. INR.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="Only this method, e.g. upi.")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="Only this country (ISO alpha-2, or 'unknown').")
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Add the previous period of equal length (needs --from/--to).")
    ] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Success rate (successes / attempts) per value of a dimension, from the hourly rollups."""
    try:
        dimension = normalise_dimension(by)
    except ValueError as error:
        raise fail(str(error), ExitCode.BAD_INPUT) from error
    filters = _filters(date_from, date_to, currency, method, country)
    if compare and (filters.date_from is None or filters.date_to is None):
        raise fail("--compare needs both --from and --to", ExitCode.BAD_INPUT)
    engine = _engine(database_url)
    frame = _run(lambda: success_rates(engine, dimension, filters, compare_previous=compare))
    _print(_records(frame), as_json, frame)


@app.command("webhook-health")
def webhook_health_command(
    date_from: DateFrom = None,
    date_to: DateTo = None,
    grace_minutes: Annotated[
        int, typer.Option("--grace-minutes", min=0, help="Wait this long before calling an event missing.")
    ] = 30,
    late_minutes: Annotated[
        int, typer.Option("--late-minutes", min=0, help="A delivery lagging more than this is late.")
    ] = 5,
    silence_minutes: Annotated[
        int, typer.Option("--silence-minutes", min=1, help="A gap this long with payments is a silence.")
    ] = 30,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliveries, duplicates, rejections, lag percentiles, missing events, silences and conflicts."""
    filters = _filters(date_from, date_to)
    engine = _engine(database_url)
    health = _run(
        lambda: compute_webhook_health(
            engine,
            filters,
            grace_minutes=grace_minutes,
            late_minutes=late_minutes,
            silence_minutes=silence_minutes,
        )
    )
    if as_json:
        _print(health.as_dict(), True)
        return
    typer.echo(f"coverage: {health.coverage_start} → {health.coverage_end}")
    for name in ("by_type_day", "rejections", "missing", "duplicates", "late", "silences", "conflicts"):
        frame = getattr(health, name)
        typer.echo(f"\n## {name} ({len(frame)})")
        typer.echo(frame.head(20).to_string(index=False) if len(frame) else "(none)")


@app.command("reconcile")
def reconcile_command(
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this ISO instant (default: now).")
    ] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Run only this rule (repeatable).")] = None,
    settlement_days: Annotated[
        int | None, typer.Option("--settlement-days", min=0, help="T+N business days (default: settings).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="full: every entity; incremental: what changed since the last pass; auto: incremental "
            "with a full pass every PAYOPS_RECONCILE_FULL_EVERY_HOURS.",
        ),
    ] = "full",
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the reconciliation rules now and update the mismatches (idempotent)."""
    if mode not in MODES:
        raise fail(f"--mode must be one of {', '.join(MODES)}, not {mode!r}", ExitCode.BAD_INPUT)
    at: datetime | None = None
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError as error:
            raise fail(f"--now must be an ISO datetime, not {now!r}", ExitCode.BAD_INPUT) from error
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    engine = _engine(database_url)
    result = _run(
        lambda: run_reconcile(
            engine,
            now=at,
            rules=rule or None,
            settlement_days=settlement_days,
            mode=cast(Mode, mode),  # checked against MODES above
        )
    )
    if as_json:
        _print(result.as_dict(), True)
        return
    scope = ", ".join(f"{count} {kind}(s)" for kind, count in result.scope.items() if count)
    typer.echo(
        f"{result.mode} pass"
        + (f" (full because {result.full_because})" if result.full_because else "")
        + (f" over {scope}" if result.mode == "incremental" else "")
    )
    for rule_id, count in result.found.items():
        typer.echo(f"{rule_id:34} {count}")
    typer.echo(
        f"new {result.new} · reopened {result.reopened} · auto-resolved {result.auto_resolved} · "
        f"open {result.still_open}"
    )


@app.command("mismatches")
def mismatches_command(
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open | acknowledged | resolved")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="critical | high | medium | low")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many (newest first).")] = 1000,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List mismatches: rule, entity ids, amounts, explanation, status and age."""
    from analytics.rules import RULES

    if rule is not None and rule not in RULES:
        raise fail(f"unknown rule {rule!r}; choose from {', '.join(RULES)}", ExitCode.BAD_INPUT)
    engine = _engine(database_url)
    frame = _run(
        lambda: lifecycle.list_mismatches(engine, rule=rule, status=status, severity=severity, limit=limit)
    )
    if as_json:
        _print(_records(frame), True)
        return
    columns = [
        "id",
        "rule",
        "status",
        "payment_id",
        "order_id",
        "refund_id",
        "settlement_id",
        "currency",
        "age_days",
    ]
    _print(None, False, frame[columns])


def _decide(
    decision: lifecycle.Decision, mismatch_id: int, actor: str, note: str | None, database_url: str | None
) -> None:
    engine = _engine(database_url)
    _run(lambda: lifecycle.decide(engine, mismatch_id, decision, actor, note))
    typer.echo(f"mismatch {mismatch_id}: {decision}d by {actor}")


@app.command("acknowledge")
def acknowledge_command(
    mismatch_id: MismatchId, actor: Actor, note: Note = None, database_url: DatabaseUrl = None
) -> None:
    """Mark a mismatch acknowledged (open → acknowledged)."""
    _decide("acknowledge", mismatch_id, actor, note, database_url)


@app.command("resolve")
def resolve_command(
    mismatch_id: MismatchId, actor: Actor, note: Note = None, database_url: DatabaseUrl = None
) -> None:
    """Mark a mismatch resolved (open | acknowledged → resolved)."""
    _decide("resolve", mismatch_id, actor, note, database_url)


# The filter of bulk actions and exports (analytics.mismatch_bulk.MismatchFilter).
RuleOption = Annotated[str | None, typer.Option("--rule", help="Only this rule id.")]
StatusOption = Annotated[str | None, typer.Option("--status", help="open | acknowledged | resolved")]
MinAge = Annotated[
    float | None, typer.Option("--min-age", help="At least this many days since the evidence began.")
]
MaxAge = Annotated[
    float | None, typer.Option("--max-age", help="At most this many days since the evidence began.")
]
AmountMin = Annotated[
    int | None, typer.Option("--amount-min", help="Expected (else actual) amount ≥, minor units.")
]
AmountMax = Annotated[
    int | None, typer.Option("--amount-max", help="Expected (else actual) amount ≤, minor units.")
]
Method = Annotated[str | None, typer.Option("--method", help="The mismatch's payment method.")]
SettlementOption = Annotated[str | None, typer.Option("--settlement", help="Settlement id.")]
OwnerOption = Annotated[str | None, typer.Option("--owner", help="Owned by this person.")]


def _selection(
    rule: str | None,
    status: str | None,
    min_age: float | None,
    max_age: float | None,
    amount_min: int | None,
    amount_max: int | None,
    method: str | None,
    settlement: str | None,
    owner: str | None,
) -> Any:
    from analytics.mismatch_bulk import MismatchFilter
    from analytics.rules import RULES

    if rule is not None and rule not in RULES:
        raise fail(f"unknown rule {rule!r}; choose from {', '.join(RULES)}", ExitCode.BAD_INPUT)
    if status is not None and status not in lifecycle.STATUSES:
        raise fail(f"status must be one of {', '.join(lifecycle.STATUSES)}", ExitCode.BAD_INPUT)
    return MismatchFilter(
        rule=rule,
        status=status,
        min_age_days=min_age,
        max_age_days=max_age,
        amount_min=amount_min,
        amount_max=amount_max,
        method=method,
        settlement_id=settlement,
        owner=owner,
    )


@app.command("bulk")
def bulk_command(
    action: Annotated[str, typer.Argument(help="acknowledge | resolve | assign")],
    actor: Actor,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Reason code (MISMATCH_REASON_CODES).")
    ] = None,
    note: Note = None,
    assign_to: Annotated[str | None, typer.Option("--assign-to", help="The new owner (assign).")] = None,
    rule: RuleOption = None,
    status: StatusOption = None,
    min_age: MinAge = None,
    max_age: MaxAge = None,
    amount_min: AmountMin = None,
    amount_max: AmountMax = None,
    method: Method = None,
    settlement: SettlementOption = None,
    owner: OwnerOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Act on every mismatch the filter selects, in one transaction (one audit row, a history row each)."""
    from analytics.mismatch_bulk import bulk_apply

    selection = _selection(rule, status, min_age, max_age, amount_min, amount_max, method, settlement, owner)
    engine = _engine(database_url)
    result = _run(
        lambda: bulk_apply(
            engine, selection, action, actor=actor, reason_code=reason, note=note, owner=assign_to
        )
    )
    typer.echo(f"{action}: {result.count} mismatches by {actor}")


@app.command("export-mismatches")
def export_mismatches_command(
    out: Annotated[str, typer.Option("--out", help="CSV file to write (default: standard output).")] = "-",
    rule: RuleOption = None,
    status: StatusOption = None,
    min_age: MinAge = None,
    max_age: MaxAge = None,
    amount_min: AmountMin = None,
    amount_max: AmountMax = None,
    method: Method = None,
    settlement: SettlementOption = None,
    owner: OwnerOption = None,
    actor: Annotated[str, typer.Option("--actor", help="Who exports (recorded in the audit log).")] = "cli",
    database_url: DatabaseUrl = None,
) -> None:
    """Stream the filtered mismatches as CSV (₹ amounts, IST times, readable evidence); audited."""
    import sys

    from analytics.mismatch_bulk import export_mismatches
    from data.audit import record_audit

    selection = _selection(rule, status, min_age, max_age, amount_min, amount_max, method, settlement, owner)
    engine = _engine(database_url)

    def export() -> int:
        if out == "-":
            return export_mismatches(engine, selection, sys.stdout)
        with open(out, "w", encoding="utf-8", newline="") as handle:
            return export_mismatches(engine, selection, handle)

    rows = _run(export)
    with engine.begin() as conn:
        record_audit(
            conn,
            actor=actor,
            action="export_csv",
            target="mismatches",
            detail={"rows": rows, "filter": selection.describe(), "to": out},
        )
    if out != "-":
        typer.echo(f"exported {rows} mismatches to {out}")


@app.command("rebuild-rollups")
def rebuild_rollups_command(database_url: DatabaseUrl = None) -> None:
    """Recompute every rollup row from the raw payments table."""
    engine = _engine(database_url)

    def rebuild() -> int:
        with engine.begin() as conn:
            return rebuild_all(conn)

    buckets = _run(rebuild)
    typer.echo(f"rebuilt {buckets} hourly buckets")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
