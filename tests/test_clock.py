"""The session's pinned clock (tests/support/clock.py) holds in this process, in its threads and in
the subprocesses tests start, so no test depends on the hour it runs at."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

from tests.support.clock import TEST_NOW

# Generous: the clock ticks from the pin, and a loaded machine is slow to start a subprocess.
NEAR = timedelta(minutes=10)


def test_this_process_and_its_threads_start_at_the_pin() -> None:
    assert TEST_NOW <= datetime.now(UTC) < TEST_NOW + NEAR
    assert date.today() == TEST_NOW.astimezone().date()  # noqa: DTZ011 - the naive local date is patched too
    seen: list[datetime] = []
    thread = threading.Thread(target=lambda: seen.append(datetime.now(UTC)))
    thread.start()
    thread.join()
    assert TEST_NOW <= seen[0] < TEST_NOW + NEAR


def test_a_subprocess_shares_the_pinned_clock() -> None:
    before = datetime.now(UTC)
    done = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = datetime.fromtimestamp(float(done.stdout), UTC)
    assert before <= seen <= datetime.now(UTC)
    assert TEST_NOW <= seen < TEST_NOW + NEAR
