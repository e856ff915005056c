"""Prepared CSV files served from disk through a signed-in, one-time link: `GET /api/export/{token}`.

A Streamlit download button keeps its whole file in memory (session state, then the media store) for
as long as the button is drawn, so a million-row export costs hundreds of MiB per user. Instead, "Prepare
CSV" (dashboard/exports.py) streams the rows from the database into a temporary file, and this module
registers a one-time token for it, bound to the signed-in user and the session id of their cookie
session, good for `EXPORT_TTL`. The route below streams the file to the browser that holds that session's
cookie (checked by dashboard/session.py, the one cookie check), once, and the file is gone as soon as the
download starts. A file nobody downloads is deleted when its token expires (a timer, and a sweep on every
prepare and every request), so no customer data lingers in the temp directory.

The registry is a dict in this process, shared by Streamlit's script threads and the route: more than one
dashboard process behind a balancer needs sticky sessions for `/api/export/` (docs/production.md).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import BinaryIO, TextIO

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dashboard import session

__all__ = [
    "EXPORT_PATH",
    "EXPORT_TTL",
    "Claim",
    "claim",
    "discard",
    "download_routes",
    "download_url",
    "is_live",
    "register",
    "routes_mounted",
    "sweep",
    "write_file",
]

EXPORT_PATH = "/api/export"
EXPORT_TTL = timedelta(minutes=5)
_CHUNK_BYTES = 64 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

log = logging.getLogger("payops.dashboard")

# One directory per process (removed at exit), so a crash leaves at most one folder to find.
_directory: Path | None = None
_lock = threading.Lock()
_routes_mounted = False


@dataclass
class _Export:
    path: Path
    user_name: str
    session_id: str
    file_name: str
    rows: int
    expires_at: datetime


_registry: dict[str, _Export] = {}


class Claim(Enum):
    GRANTED = "granted"
    NOT_FOUND = "not_found"  # unknown, used or expired
    FORBIDDEN = "forbidden"  # someone else's token


def _now() -> datetime:
    return datetime.now(UTC)


def _export_directory() -> Path:
    global _directory
    with _lock:
        if _directory is None or not _directory.is_dir():
            _directory = Path(tempfile.mkdtemp(prefix="payops-exports-"))
            atexit.register(shutil.rmtree, _directory, ignore_errors=True)
        return _directory


def write_file(write: Callable[[TextIO], int]) -> tuple[Path, int]:
    """Run a CSV writer into a new file on disk (readable by this user only); its path and row count.
    The writer streams its rows, so memory stays flat whatever the count."""
    descriptor, name = tempfile.mkstemp(suffix=".csv", dir=_export_directory())
    path = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            rows = write(out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, rows


def register(
    path: Path, *, user_name: str, session_id: str, file_name: str, rows: int, now: datetime | None = None
) -> str:
    """A one-time token for `path`, good for EXPORT_TTL, for this user in this cookie session."""
    at = now or _now()
    sweep(at)
    token = secrets.token_urlsafe(32)
    export = _Export(path, user_name, session_id, _safe_file_name(file_name), rows, at + EXPORT_TTL)
    with _lock:
        _registry[token] = export
    # Nobody may come back for it: the timer deletes it once it expires (a sweep also runs on every call).
    timer = threading.Timer(EXPORT_TTL.total_seconds() + 1, sweep)
    timer.daemon = True
    timer.start()
    return token


def is_live(token: str, now: datetime | None = None) -> bool:
    """True while the token's file is waiting for its download (not used, not expired)."""
    with _lock:
        export = _registry.get(token)
    return export is not None and export.expires_at > (now or _now())


def discard(token: str) -> None:
    """Forget a token and delete its file (the page dropped the prepared export)."""
    with _lock:
        export = _registry.pop(token, None)
    if export is not None:
        export.path.unlink(missing_ok=True)


def sweep(now: datetime | None = None) -> int:
    """Delete every expired, never-downloaded file; how many there were."""
    at = now or _now()
    with _lock:
        expired = [token for token, export in _registry.items() if export.expires_at <= at]
        gone = [_registry.pop(token) for token in expired]
    for export in gone:
        export.path.unlink(missing_ok=True)
    return len(gone)


def claim(
    token: str, *, user_name: str, session_id: str, now: datetime | None = None
) -> tuple[Claim, _Export | None]:
    """Take the token for a download: granted once, to its own user and session only. Another user's
    or session's request leaves the token for its owner."""
    sweep(now)
    with _lock:
        export = _registry.get(token)
        if export is None:
            return Claim.NOT_FOUND, None
        if not (
            # Bytes: compare_digest refuses str with non-ASCII characters (a name may have them).
            secrets.compare_digest(export.user_name.encode(), user_name.encode())
            and secrets.compare_digest(export.session_id.encode(), session_id.encode())
        ):
            return Claim.FORBIDDEN, None
        del _registry[token]
    return Claim.GRANTED, export


def _safe_file_name(name: str) -> str:
    cleaned = _SAFE_NAME.sub("-", name).strip(".-") or "payops-export.csv"
    return cleaned if cleaned.endswith(".csv") else f"{cleaned}.csv"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(_CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _refused(status: int) -> Response:
    # No detail: whether a token exists is nobody's business but its owner's.
    return PlainTextResponse({403: "Forbidden", 404: "Not found", 405: "Method not allowed"}[status], status)


def export(request: Request) -> Response:
    """GET /api/export/{token}: the prepared CSV, once, to the browser of the session it was made in."""
    if request.method != "GET":  # Starlette answers HEAD for every GET route unless told otherwise
        response = _refused(405)
        response.headers["Allow"] = "GET"
        return response
    row = session.session_of(request)
    if row is None:
        return _refused(403)
    outcome, found = claim(request.path_params["token"], user_name=row.user_name, session_id=row.id)
    if outcome is Claim.FORBIDDEN:
        return _refused(403)
    if found is None:
        return _refused(404)
    try:
        handle = found.path.open("rb")
    except FileNotFoundError:
        return _refused(404)
    # Unlinked now, read through the open handle: the file is gone from disk whatever the download does.
    found.path.unlink(missing_ok=True)
    log.info("export %s (%d rows) downloaded by %s", found.file_name, found.rows, row.user_name)
    return StreamingResponse(
        _chunks(handle),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{found.file_name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def download_url(token: str) -> str:
    return f"{EXPORT_PATH}/{token}"


def routes_mounted() -> bool:
    """True when this process serves the export route (started through dashboard/server.py)."""
    return _routes_mounted


def download_routes() -> list[Route]:
    global _routes_mounted
    _routes_mounted = True
    return [Route(f"{EXPORT_PATH}/{{token}}", export, methods=["GET"])]
