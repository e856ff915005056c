"""Test-only: a subprocess started by the test session shares the session's pinned clock.

Only on PYTHONPATH when tests start a subprocess (see tests/support/clock.py); does nothing unless
PAYOPS_TEST_CLOCK_ANCHOR is set.
"""

import os

_anchor = os.environ.get("PAYOPS_TEST_CLOCK_ANCHOR")
if _anchor:
    import time

    import time_machine

    _pinned, _real = (float(part) for part in _anchor.split(":"))
    time_machine.travel(_pinned + (time.time() - _real), tick=True).start()
