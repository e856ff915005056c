"""CPU cost of a sign-in check for a name that exists (wrong password) against one that does not, with
the users file's hashes at the production cost (bcrypt 12). The ratio should be ≈ 1: timing must not
tell an attacker which names exist (issue 11). Prints a Markdown table.

    .venv/bin/python -m bench.bench_sign_in --attempts 20
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import typer

from dashboard.roles import Role
from dashboard.users import add_user, verify_password

app = typer.Typer(add_completion=False, help=__doc__)


def _cpu_seconds(name: str, path: Path, attempts: int) -> list[float]:
    samples = []
    for _ in range(attempts):
        start = time.process_time()
        assert verify_password(name, "not-the-password", path=path) is None
        samples.append(time.process_time() - start)
    return samples


@app.command()
def main(
    attempts: int = typer.Option(20, min=1, help="Checks per name."),
    rounds: int = typer.Option(12, min=4, max=16, help="bcrypt cost of the users file."),
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "users.toml"
        add_user("finance", Role.FINANCE, "a-real-password", path=path, rounds=rounds)
        verify_password("nobody", "warm-up", path=path)  # the dummy hash is made once per cost
        known = _cpu_seconds("finance", path, attempts)
        unknown = _cpu_seconds("no-such-user", path, attempts)
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    load = os.getloadavg()
    print(
        f"bcrypt cost {rounds}, {attempts} checks per name; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print()
    print("| name | median CPU s per check |")
    print("|---|---|")
    print(f"| exists (wrong password) | {known_median:.3f} |")
    print(f"| does not exist | {unknown_median:.3f} |")
    print(f"| ratio unknown / known | {unknown_median / known_median:.2f} |")


if __name__ == "__main__":
    app()
