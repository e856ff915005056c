"""The sign-in session that survives a refresh and a request landing on another dashboard replica.

Streamlit's own session lives in one server process and ends with the browser tab's websocket, so a
refresh signed the user out. Here a signed-in user also holds an HttpOnly cookie (itsdangerous-signed
with PAYOPS_SESSION_KEY, SameSite=Strict, Secure when configured) that names a row of
`dashboard_sessions`; every replica with the same key and database accepts it until the session is
idle for PAYOPS_SESSION_IDLE_MINUTES, older than PAYOPS_SESSION_LIFETIME_HOURS, or signed out.

A script run cannot set a cookie, so the cookie is issued by small HTTP routes mounted on Streamlit's
ASGI app (dashboard/server.py, `st.App`): after a good password the script hands the browser a
one-time, short-lived grant, the browser follows `/api/session/start?grant=…&next=…`, which sets the
cookie and redirects to the page first asked for. The script reads the cookie back from
`st.context.cookies` (the cookies of the websocket's handshake).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from data import sessions as session_store
from data.db import make_engine
from data.settings import Settings, get_settings

log = logging.getLogger("payops.dashboard")

COOKIE_NAME = "payops_session"
START_PATH = "/api/session/start"
RENEW_PATH = "/api/session/renew"
END_PATH = "/api/session/end"
GRANT_SECONDS = 120  # the browser follows the grant at once; two minutes covers a slow page load
_COOKIE_SALT = "payops-session-cookie"
_GRANT_SALT = "payops-session-grant"
# Without PAYOPS_SESSION_KEY each process signs with its own random key (the demo, one process); set it
# for more than one replica or for sessions that outlive a restart.
_PROCESS_KEY = secrets.token_urlsafe(32)
_routes_mounted = False


def _now() -> datetime:
    return datetime.now(UTC)


def signing_key(settings: Settings | None = None) -> str:
    configured = (settings or get_settings()).payops_session_key.get_secret_value()
    return configured or _PROCESS_KEY


def _serializer(salt: str, settings: Settings | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(settings), salt=salt)


def idle_timeout(settings: Settings | None = None) -> timedelta:
    return timedelta(minutes=(settings or get_settings()).payops_session_idle_minutes)


def lifetime(settings: Settings | None = None) -> timedelta:
    return timedelta(hours=(settings or get_settings()).payops_session_lifetime_hours)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def make_grant(session_id: str) -> str:
    return _serializer(_GRANT_SALT).dumps(session_id)


def read_grant(grant: str) -> str | None:
    return _loads(_serializer(_GRANT_SALT), grant, max_age=GRANT_SECONDS)


def cookie_value(session_id: str) -> str:
    return _serializer(_COOKIE_SALT).dumps(session_id)


def read_cookie(value: str | None) -> str | None:
    """The session id a cookie names, if its signature holds and it is younger than the lifetime."""
    if not value:
        return None
    return _loads(_serializer(_COOKIE_SALT), value, max_age=lifetime().total_seconds())


def _loads(serializer: URLSafeTimedSerializer, token: str, *, max_age: float) -> str | None:
    try:
        value = serializer.loads(token, max_age=int(max_age))  # the age is checked against time.time()
    except (SignatureExpired, BadSignature):
        return None
    return value if isinstance(value, str) else None


def safe_next(target: str | None) -> str:
    """A same-origin path to go to after sign-in: never another host (`//evil`, `https://…`, `\\\\`)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/"
    return target


def next_path(url_path: str, query: dict[str, list[str]]) -> str:
    """`/<page url path>?<query>` of the page the visitor asked for (the default page is `/`)."""
    path = f"/{url_path}" if url_path else "/"
    pairs = [(key, value) for key, values in query.items() for value in values]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def start_url(grant: str, target: str) -> str:
    return f"{START_PATH}?{urlencode({'grant': grant, 'next': safe_next(target)})}"


def routes_mounted() -> bool:
    """True when this process serves the session routes (started through dashboard/server.py)."""
    return _routes_mounted


# --- the HTTP routes ------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _route_engine(url: str) -> Engine:
    return make_engine(url)


def _engine() -> Engine:
    return _route_engine(get_settings().database_url)


def _set_cookie(response: Response, session_id: str) -> None:
    settings = get_settings()
    response.set_cookie(
        COOKIE_NAME,
        cookie_value(session_id),
        max_age=int(lifetime(settings).total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.payops_session_cookie_secure,
    )


def _clear_cookie(response: Response) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=get_settings().payops_session_cookie_secure,
    )


def start(request: Request) -> Response:
    """GET /api/session/start?grant=G&next=/page?…: turn a one-time sign-in grant into the cookie."""
    session_id = read_grant(request.query_params.get("grant", ""))
    if session_id is None or not session_store.activate_session(
        _engine(), session_id, now=_now(), lifetime=lifetime()
    ):
        return PlainTextResponse("This sign-in link has expired or was used already. Sign in again.", 403)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    _set_cookie(response, session_id)
    return response


def session_of(request: Request) -> session_store.SessionRow | None:
    """The valid session a request's cookie names (signature, age, idle time, not ended), else None."""
    session_id = read_cookie(request.cookies.get(COOKIE_NAME))
    if session_id is None:
        return None
    return session_store.valid_session(
        _engine(), session_id, now=_now(), idle=idle_timeout(), lifetime=lifetime()
    )


def renew(request: Request) -> Response:
    """POST /api/session/renew: re-issue the cookie of a valid session (its idle clock restarts)."""
    row = session_of(request)
    if row is None:
        response: Response = JSONResponse({"signed_in": False}, status_code=401)
        _clear_cookie(response)
        return response
    response = JSONResponse({"signed_in": True})
    _set_cookie(response, row.id)
    return response


def end(request: Request) -> Response:
    """GET or POST /api/session/end: end the session everywhere and clear the cookie, then go to `/`."""
    session_id = read_cookie(request.cookies.get(COOKIE_NAME))
    if session_id is not None:
        session_store.end_session(_engine(), session_id, now=_now())
    response = RedirectResponse("/", status_code=303)
    _clear_cookie(response)
    return response


def session_routes() -> list[Route]:
    global _routes_mounted
    _routes_mounted = True
    return [
        Route(START_PATH, start, methods=["GET"]),
        Route(RENEW_PATH, renew, methods=["POST"]),
        Route(END_PATH, end, methods=["GET", "POST"]),
    ]
