"""The banner every page shows while the demo is still replaying the sandbox's webhook history: until
then webhook figures (and the mismatches judged on them) cover only part of the history.

The replay keeps its progress in a small JSON file (written by `python -m sandbox webhooks
--progress-file`, see sandbox/sender.py); `PAYOPS_REPLAY_PROGRESS_FILE` names it. Unset (production),
nothing is read and nothing is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import streamlit as st

from dashboard.format import count
from dashboard.queries import TTL_SECONDS
from data.settings import get_settings

STAGES = ("starting", "replaying", "reconciling", "done", "failed")
REFRESH_SECONDS = 3


@dataclass(frozen=True)
class ReplayProgress:
    stage: str  # one of STAGES
    events_done: int  # events handled: sent, or withheld by a planted delivery fault
    events_total: int  # events in the replayed history; 0 while the replay is still reading it

    @property
    def finished(self) -> bool:
        return self.stage == "done"


def read_progress(path: Path) -> ReplayProgress | None:
    """The replay's progress, or None when the file is absent or not one the replay wrote."""
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    stage, done, total = document.get("stage"), document.get("events_done"), document.get("events_total")
    if stage not in STAGES or not _count(done) or not _count(total):
        return None
    assert isinstance(done, int) and isinstance(total, int)
    return ReplayProgress(str(stage), min(done, total) if total else done, total)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def banner_text(progress: ReplayProgress) -> str:
    if progress.stage == "starting" or not progress.events_total:
        return (
            "Webhook history replay starting: webhook figures and webhook mismatches are incomplete "
            "until it finishes."
        )
    if progress.stage == "failed":
        return (
            f"The webhook history replay stopped after {count(progress.events_done)} of "
            f"{count(progress.events_total)} events (the demo's terminal says why): webhook figures and "
            "webhook mismatches cover only what arrived."
        )
    if progress.stage == "reconciling":
        return (
            f"Webhook history replayed ({count(progress.events_total)} events); reconciliation is "
            "running again on complete coverage, so mismatches may still change."
        )
    return (
        f"Replay in progress: {count(progress.events_done)} of {count(progress.events_total)} webhook "
        "events sent. Webhook figures and webhook mismatches are incomplete until it finishes "
        f"(pages read the database again at most every {TTL_SECONDS} s)."
    )


def show_replay_banner() -> None:
    """An info banner while a configured replay has not finished, redrawn on its own every few
    seconds (the page around it is not rerun); nothing when no replay is configured or it is done."""
    path = get_settings().payops_replay_progress_file
    if path is None:
        return

    @st.fragment(run_every=REFRESH_SECONDS)
    def banner() -> None:
        progress = read_progress(path)
        if progress is not None and not progress.finished:
            st.info(banner_text(progress), icon=":material/sync:")

    banner()
