"""Webhook receivers as real processes (`python -m sync.webhooks serve`), for tests that kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from tests.support.sandbox import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 60.0

__all__ = ["ReceiverProcess", "wait_until_healthy"]


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_SECONDS
) -> None:
    """Poll `url` (a /healthz) until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before it was healthy")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or not answering yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy within {timeout} s")


class ReceiverProcess:
    """One receiver replica on its own port; `kill()` is SIGKILL, `start()` brings it back on the same port."""

    def __init__(self, database_url: str, secret: str, log_path: Path, extra: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._database_url = database_url
        self._secret = secret
        self._log_path = log_path
        self._extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "RAZORPAY_WEBHOOK_SECRET": self._secret, "DATABASE_URL": self._database_url}
        command = [sys.executable, "-m", "sync.webhooks", "serve", "--port", str(self.port), *self._extra]
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
        wait_until_healthy(self.url + "/healthz", self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: uvicorn finishes what is in flight, the writer refreshes pending rollups."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
