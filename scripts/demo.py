"""The demo: sandbox → sync → webhook receiver (fed by the sandbox's sender) → dashboard, on SQLite.

Run by `make demo`. Everything runs on this machine with the sandbox's keys; Ctrl-C stops it all.
Ports, sizes and the dashboard's address can be changed with environment variables (see README); the
dashboard listens on 127.0.0.1 unless PAYOPS_DEMO_DASHBOARD_ADDRESS says otherwise, because the demo
prints its users' passwords.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import orjson

from sandbox.sender import write_progress

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

SANDBOX_PORT = int(os.environ.get("PAYOPS_DEMO_SANDBOX_PORT", "9000"))
RECEIVER_PORT = int(os.environ.get("PAYOPS_DEMO_RECEIVER_PORT", "8000"))
DASHBOARD_PORT = int(os.environ.get("PAYOPS_DEMO_DASHBOARD_PORT", "8501"))
DASHBOARD_ADDRESS = os.environ.get("PAYOPS_DEMO_DASHBOARD_ADDRESS", "127.0.0.1")
DAYS = os.environ.get("PAYOPS_DEMO_DAYS", "30")
PAYMENTS_PER_DAY = os.environ.get("PAYOPS_DEMO_PAYMENTS_PER_DAY", "2000")
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'data' / 'demo.db'}")
REPLAY_PROGRESS = ROOT / "data" / "demo-replay.json"
# The receiver and the replay run at a lower CPU priority than the dashboard, so that signing in and
# the first pages stay quick on a small machine while the history streams in.
BACKGROUND = ["nice", "-n", "10"] if shutil.which("nice") else []

children: list[subprocess.Popen[bytes]] = []


def main() -> int:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "RAZORPAY_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "PAYOPS_REPLAY_PROGRESS_FILE": str(REPLAY_PROGRESS),
    }
    signal.signal(signal.SIGTERM, lambda *_: _stop_all_and_exit())
    try:
        step("Migrating the database", [PY, "-m", "data", "upgrade"], env)
        start(
            "Starting the sandbox (a local Razorpay stand-in)",
            [
                PY,
                "-m",
                "sandbox",
                "serve",
                "--port",
                str(SANDBOX_PORT),
                "--days",
                DAYS,
                "--payments-per-day",
                PAYMENTS_PER_DAY,
                # The Alerts page then has something to show: planted drops, a silence, fraud signals.
                "--alert-plants",
            ],
            env,
            ready_url=f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/state",
            basic_auth=True,
        )
        step(
            "Syncing payments, orders, refunds, settlements and settlement lines",
            [PY, "-m", "sync", "run", "--lookback", "0d"],
            env,
        )
        statement = ROOT / "data" / "demo-statement.csv"
        step(
            "Writing the sandbox's bank statement (HDFC CSV, with planted faults)",
            [
                PY,
                "-m",
                "sandbox",
                "statement",
                "--format",
                "csv",
                "--out",
                str(statement),
                "--api",
                f"http://127.0.0.1:{SANDBOX_PORT}",
            ],
            env,
        )
        step("Importing the bank statement", [PY, "-m", "sync", "statement", str(statement)], env)
        start(
            "Starting the webhook receiver",
            [
                *BACKGROUND,
                PY,
                "-m",
                "sync.webhooks",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(RECEIVER_PORT),
            ],
            env,
            ready_url=f"http://127.0.0.1:{RECEIVER_PORT}/healthz",
        )
        step("Running the reconciliation rules on the synced data", [PY, "-m", "analytics", "reconcile"], env)
        # Razorpay would have pushed every event as it happened; the sender replays the whole history
        # (each event with the times it had then, and the planted faults) while the dashboard is up,
        # then the rules run again so webhook mismatches are judged on complete coverage. Every page
        # says "replay in progress" until then (dashboard/replay.py reads REPLAY_PROGRESS).
        write_progress(REPLAY_PROGRESS, "starting", 0, 0)
        replay = threading.Thread(target=replay_webhooks_then_reconcile, args=(env,), daemon=True)
        replay.start()
        step("Creating the demo users", [PY, "-m", "dashboard", "demo-users"], env)
        print(
            f"\n==> Dashboard on http://{DASHBOARD_ADDRESS}:{DASHBOARD_PORT}  (Ctrl-C stops everything)\n",
            flush=True,
        )
        dashboard = subprocess.Popen(
            [
                PY,
                "-m",
                "streamlit",
                "run",
                "dashboard/server.py",
                "--server.port",
                str(DASHBOARD_PORT),
                "--server.address",
                DASHBOARD_ADDRESS,
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
        )
        children.append(dashboard)
        return dashboard.wait()
    except KeyboardInterrupt:
        return 0
    except DemoStepFailed as failure:
        print(f"demo stopped: {failure}", file=sys.stderr)
        return 1
    finally:
        stop_all()


class DemoStepFailed(Exception):
    pass


def replay_webhooks_then_reconcile(env: dict[str, str]) -> None:
    since_days = str(float(DAYS) + 1)
    sender = subprocess.Popen(
        [
            *BACKGROUND,
            PY,
            "-m",
            "sandbox",
            "webhooks",
            "--to",
            f"http://127.0.0.1:{RECEIVER_PORT}/webhooks/razorpay",
            "--api",
            f"http://127.0.0.1:{SANDBOX_PORT}",
            "--since-days",
            since_days,
            "--secret",
            env.get("RAZORPAY_WEBHOOK_SECRET", "sandbox_webhook_secret"),
            "--progress-file",
            str(REPLAY_PROGRESS),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    children.append(sender)
    print("==> Webhooks are being replayed in the background (watch the Webhook health page)", flush=True)
    exit_code = sender.wait()
    done, total = replayed_so_far()
    if exit_code != 0:
        write_progress(REPLAY_PROGRESS, "failed", done, total)
        print(f"==> Webhook replay stopped (exit {exit_code}) after {done} of {total} events", flush=True)
        return
    write_progress(REPLAY_PROGRESS, "reconciling", done, total)
    subprocess.run(
        [PY, "-m", "analytics", "reconcile"], cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL
    )
    evaluate_alerts_over_the_history(env)
    write_progress(REPLAY_PROGRESS, "done", done, total)
    print("==> Webhook replay finished; reconciliation and alerts re-run on complete coverage", flush=True)


def evaluate_alerts_over_the_history(env: dict[str, str]) -> None:
    """The alert rules as a schedule would have run them: at each moment the sandbox planted a condition
    for (its manifest's `check_at`), in time order, then now. The Alerts page then shows the planted
    drops, the silence and the fraud signals in its history (resolved since) beside what fires now."""
    manifest = subprocess.run(
        [PY, "-m", "sandbox", "manifest", "--api", f"http://127.0.0.1:{SANDBOX_PORT}"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )
    plants = orjson.loads(manifest.stdout).get("alert_plants", []) if manifest.returncode == 0 else []
    moments = sorted({int(plant["check_at"]) for plant in plants})
    at = [["--at", datetime.fromtimestamp(moment, UTC).isoformat()] for moment in moments]
    for when in [*at, []]:
        subprocess.run(
            [PY, "-m", "analytics", "alerts", "evaluate", "--no-notify", *when],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )


def replayed_so_far() -> tuple[int, int]:
    """(events handled, events in the history) as the sender last wrote them; (0, 0) before it did."""
    try:
        progress = orjson.loads(REPLAY_PROGRESS.read_bytes())
        return int(progress["events_done"]), int(progress["events_total"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, 0


def step(title: str, command: list[str], env: dict[str, str]) -> None:
    print(f"==> {title}", flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise DemoStepFailed(f"{title.lower()} failed (exit {result.returncode})")


def start(
    title: str, command: list[str], env: dict[str, str], *, ready_url: str, basic_auth: bool = False
) -> None:
    print(f"==> {title}", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    children.append(process)
    request = urllib.request.Request(ready_url)  # noqa: S310 - a fixed local http URL
    if basic_auth:
        import base64

        key = env.get("RAZORPAY_KEY_ID", "rzp_test_sandbox")
        secret = env.get("RAZORPAY_KEY_SECRET", "sandbox_key_secret")
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode())
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoStepFailed(f"{title.lower()} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.5)
    raise DemoStepFailed(f"{title.lower()}: not ready after 180 s")


def stop_all() -> None:
    for process in reversed(children):
        if process.poll() is None:
            process.terminate()
    for process in children:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _stop_all_and_exit() -> None:
    stop_all()
    raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main())
