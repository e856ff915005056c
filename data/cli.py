"""What every payops command line shares: the exit codes (docs/cli.md) and the one-line failure.

It lives in data/ because every CLI (data, sync, the webhook receiver, analytics, sandbox, dashboard)
already builds on this package, and nothing here may import upwards.
"""

from __future__ import annotations

from enum import IntEnum

import typer

__all__ = ["ExitCode", "fail"]


class ExitCode(IntEnum):
    OK = 0
    # The command was right but the run did not succeed: database unreachable or not migrated, the
    # API or sandbox unavailable, some input files not loaded.
    FAILED = 1
    # Fix the command line or the configuration: a bad option value, an unknown name or id, a missing
    # file or secret. Click uses 2 for its own usage errors too.
    BAD_INPUT = 2
    # The API refused the credentials (HTTP 401 from Razorpay).
    AUTH_REJECTED = 3
    # Another run holds the work this one needs (a sync of the same entity on this or another host).
    BUSY = 4


def fail(line: str, code: ExitCode = ExitCode.FAILED) -> typer.Exit:
    """Print `line` to stderr and return the Exit to raise: `raise fail("...", ExitCode.BAD_INPUT)`."""
    typer.echo(line, err=True)
    return typer.Exit(int(code))
