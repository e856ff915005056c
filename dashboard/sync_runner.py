""" "Run sync now" from the Sync status page: one background sync per dashboard process, through the
sync's own Python API (`sync.pull.run_sync`), recorded in sync_runs with trigger "dashboard"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine


@dataclass
class SyncLauncher:
    """Holds the one running thread; a second click while it runs does not start another sync."""

    thread: threading.Thread | None = None
    started_at: datetime | None = None
    started_by: str | None = None
    outcome: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, engine: Engine, actor: str, *, on_finish: Callable[[], None] = lambda: None) -> bool:
        """Start a sync in the background; False when one is already running. `on_finish` runs when the
        sync has ended, succeeded or not (the page passes the cache clearing, so every page then reads
        the new run's figures)."""
        with self._lock:
            if self.running:
                return False
            self.started_at, self.started_by, self.outcome = datetime.now(UTC), actor, None
            self.thread = threading.Thread(
                target=self._run_then, args=(engine, on_finish), name="payops-dashboard-sync", daemon=True
            )
            self.thread.start()
            return True

    def _run_then(self, engine: Engine, on_finish: Callable[[], None]) -> None:
        try:
            self._run(engine)
        finally:
            on_finish()

    def _run(self, engine: Engine) -> None:
        from data.settings import get_settings
        from sync.http import make_client
        from sync.pull import LeaseHeld, SyncOptions, run_sync

        settings = get_settings()
        try:
            result = run_sync(
                engine,
                make_client(settings),
                SyncOptions(trigger="dashboard", country_notes_key=settings.country_notes_key),
            )
        except LeaseHeld as held:  # the same lease as `python -m sync run`: one run per entity anywhere
            self.outcome = f"not started: {held}"
            return
        except Exception as error:  # recorded in sync_runs by run_sync; keep one line for the page
            self.outcome = (
                f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            return
        upserted = sum(counts.upserted for counts in result.counts.values())
        self.outcome = f"run #{result.run_id} {result.status}: {upserted:,} rows written, {result.quarantined} quarantined"
