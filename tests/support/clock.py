"""One pinned clock for the whole test session, in this process and in every subprocess it starts.

PAYOPS_TEST_NOW (ISO 8601, default DEFAULT_NOW) is the instant every test starts at. Each test item
(setup, call, teardown) travels there with time-machine, ticking from it in real time, so code that
reads the clock (datetime.now, date.today, time.time, including AppTest's script threads) sees
"now = the pin + seconds into this test". Subprocesses started by a test (sandbox, sync, receiver,
streamlit) see the same clock through `clock_site/sitecustomize.py`, which the session puts first on
PYTHONPATH: it reads ANCHOR_ENV and travels to the same pin, offset by the real time since the test
began. The production code is not touched and reads the real clock when nothing pins it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import time_machine

NOW_ENV = "PAYOPS_TEST_NOW"
# Midday IST on a weekday: far from an IST day boundary unless a run asks for one (00:05 / 23:55 IST).
DEFAULT_NOW = "2026-11-30T06:30:00Z"
# "<pinned epoch seconds>:<real epoch seconds when the pin was set>", read by sitecustomize.py.
ANCHOR_ENV = "PAYOPS_TEST_CLOCK_ANCHOR"
SITE_DIR = Path(__file__).resolve().parent / "clock_site"


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{NOW_ENV} must carry a UTC offset, e.g. 2026-11-30T18:35:00Z (got {value!r})")
    return parsed.astimezone(UTC)


TEST_NOW: datetime = _parse(os.environ.get(NOW_ENV) or DEFAULT_NOW)
"""The session's "now": pass it wherever code takes an explicit `now` (seeds, sandbox --now, …)."""


def _real_time() -> float:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return time.time()


@contextmanager
def pinned(at: datetime = TEST_NOW) -> Iterator[None]:
    """The clock starts at `at` and ticks; subprocesses started meanwhile share it."""
    previous = os.environ.get(ANCHOR_ENV)
    os.environ[ANCHOR_ENV] = f"{at.timestamp()}:{_real_time()}"
    try:
        with time_machine.travel(at, tick=True):
            yield
    finally:
        if previous is None:
            os.environ.pop(ANCHOR_ENV, None)
        else:
            os.environ[ANCHOR_ENV] = previous


def subprocess_pythonpath(*extra: str) -> str:
    """PYTHONPATH for subprocesses: the clock's sitecustomize first, then `extra`, then what was set."""
    parts = [str(SITE_DIR), *extra]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(dict.fromkeys(p for p in os.pathsep.join(parts).split(os.pathsep) if p))


__all__ = ["ANCHOR_ENV", "DEFAULT_NOW", "NOW_ENV", "SITE_DIR", "TEST_NOW", "pinned", "subprocess_pythonpath"]
