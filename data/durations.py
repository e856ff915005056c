"""Durations as people read them (`850 ms`, `2.8 s`, `16.0 min`, `2.5 h`): one function, for the
dashboard's lags and the payment timeline's text alike."""

from __future__ import annotations

__all__ = ["duration_text"]


def duration_text(milliseconds: float | None) -> str:
    """ms under a second, seconds with one decimal under a minute, then minutes, then hours; `—` for none."""
    if milliseconds is None:
        return "—"
    ms = float(milliseconds)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"
