"""`python -m sync schedule`: one long-running process that runs the sync, alert evaluation, reconcile
and the personal-data purge on the intervals in the settings (APScheduler, one thread per job kind).

Each job runs at most once at a time (max_instances=1) and a job that overran is not run twice to
catch up (coalesce). A failing job logs its error class and runs again at its next tick; the
process itself never stops on a job's failure. `--once` runs every enabled job once and exits
(non-zero if any failed), which is what cron, a systemd timer or a Kubernetes CronJob calls.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from analytics.alerts_cli import evaluate_and_notify, summary_line
from data.errors import describe_error
from data.retention import purge_old_rejections, purge_personal_data
from data.settings import Settings

__all__ = ["ScheduledJob", "evaluate_alerts", "run_jobs_once", "run_scheduler", "scheduled_jobs"]

log = logging.getLogger("sync.schedule")


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    every: timedelta
    action: Callable[[], str]  # returns a one-line summary for the log


def evaluate_alerts(engine: Engine) -> str:
    """Every alert rule as of now, then the notifications for what fired or resolved."""
    evaluation, sent = evaluate_and_notify(engine, at=datetime.now(UTC))
    return summary_line(evaluation, sent)


def scheduled_jobs(settings: Settings, engine: Engine) -> list[ScheduledJob]:
    """The enabled jobs, from the settings."""

    def sync() -> str:
        from sync.cli import _summary
        from sync.http import make_client
        from sync.pull import LogProgress, SyncOptions, run_sync
        from sync.tiers import parse_tiers

        options = SyncOptions(
            country_notes_key=settings.country_notes_key,
            trigger="schedule",
            lookback_tiers=parse_tiers(settings.sync_lookback_tiers),
        )
        return _summary(run_sync(engine, make_client(settings), options, progress=LogProgress()))

    def reconcile() -> str:
        from analytics.reconcile import reconcile as run_reconcile

        # Incremental (what the sync and the receiver wrote since the last pass), with the full pass
        # every payops_reconcile_full_every_hours.
        result = run_reconcile(engine, mode="auto")
        return (
            f"reconcile ({result.mode}): new {result.new}, auto-resolved {result.auto_resolved}, "
            f"open {result.still_open}"
        )

    def purge() -> str:
        assert settings.payops_pii_retention_days is not None
        result = purge_personal_data(
            engine, older_than=timedelta(days=settings.payops_pii_retention_days), actor="schedule"
        )
        return f"purge-pii: {result.as_dict()}"

    def purge_rejections() -> str:
        days = settings.payops_rejection_retention_days
        deleted = purge_old_rejections(engine, older_than=timedelta(days=days), actor="schedule")
        return f"purge-rejections: {deleted} rows older than {days} days"

    candidates = [
        ("sync", settings.payops_schedule_sync_seconds, sync),
        ("alerts", settings.payops_schedule_alerts_seconds, lambda: evaluate_alerts(engine)),
        ("reconcile", settings.payops_schedule_reconcile_seconds, reconcile),
    ]
    candidates.append(("purge-rejections", settings.payops_schedule_purge_seconds, purge_rejections))
    if settings.payops_pii_retention_days is not None:
        candidates.append(("purge-pii", settings.payops_schedule_purge_seconds, purge))
    return [
        ScheduledJob(name, timedelta(seconds=every), action)
        for name, every, action in candidates
        if every > 0
    ]


def _guarded(job: ScheduledJob) -> Callable[[], bool]:
    def run() -> bool:
        started = datetime.now(UTC)
        try:
            summary = job.action()
        except Exception as error:  # a job's failure is logged; the schedule goes on
            log.error("job %s failed: %s", job.name, describe_error(error))
            return False
        log.info(
            "job %s done in %.1f s: %s", job.name, (datetime.now(UTC) - started).total_seconds(), summary
        )
        return True

    return run


def run_jobs_once(jobs: list[ScheduledJob]) -> bool:
    """Every job once, in order; True when all succeeded."""
    return all([_guarded(job)() for job in jobs])


def run_scheduler(jobs: list[ScheduledJob], *, one_at_a_time: bool = False) -> None:
    """Run until SIGTERM/SIGINT; every job starts at once, then on its interval. `one_at_a_time` runs
    the jobs in turn rather than side by side: SQLite has one writer, and a reconcile waiting out a
    sync's long write transaction would fail on the busy timeout instead of simply running next."""
    # (10 threads is APScheduler's own default)
    executors = {"default": ThreadPoolExecutor(1 if one_at_a_time else 10)}
    scheduler = BlockingScheduler(timezone=UTC, executors=executors)
    now = datetime.now(UTC)
    for job in jobs:
        scheduler.add_job(
            _guarded(job),
            IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            next_run_time=now,
            misfire_grace_time=None,
        )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler started: %s", ", ".join(f"{job.name} every {job.every}" for job in jobs))
    scheduler.start()
