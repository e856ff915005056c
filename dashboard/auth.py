"""Who is signed in: Streamlit's OIDC (`st.login`) when `[auth]` is configured, else the local users file.

Either way the role comes from the users file, and every page calls `require_page` as its own guard,
so a page is unreachable even if someone types its URL. A password sign-in opens a server-side session
(dashboard/session.py) that a signed cookie carries across refreshes and replicas; failed sign-ins are
audited and throttled per typed name and per client address, counted from the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import streamlit as st

from dashboard import queries, session
from dashboard.roles import DEMO_SIGN_IN_HINT, Role, can_see
from dashboard.users import UserRecord, UsersFileError, load_users, verify_password
from data import sessions as session_store
from data.settings import get_settings

SESSION_KEY = "payops_user"
# Set by a sign-in (or sign-out) for the next run to send the browser through a cookie route.
_COOKIE_REDIRECT_KEY = "payops_cookie_redirect"
_ENDED_KEY = "payops_session_ended"
NOT_FOR_ROLE = "This page is not for your role ({role}). The pages you can open are in the sidebar."


@dataclass(frozen=True)
class SignedInUser:
    name: str
    role: Role
    method: Literal["password", "oidc"]
    # The dashboard_sessions row behind this sign-in (None only where tests sign a role in directly).
    session_id: str | None = None


def oidc_configured() -> bool:
    """True when `.streamlit/secrets.toml` has an `[auth]` section (OIDC provider settings)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: local sign-in
        return False


def role_for_identity(claims: Mapping[str, Any], users: Mapping[str, UserRecord]) -> UserRecord | None:
    """The users-file entry of an identity-provider user: the one named by their `email` claim.

    Emails match case-insensitively (providers differ in the case they return). An email the provider
    marks as unverified (`email_verified` false) maps to nothing: anyone can type an address at sign-up.
    """
    email = str(claims.get("email") or "").strip()
    if not email or claims.get("email_verified") is False:
        return None
    if email in users:
        return users[email]
    matches = [record for name, record in users.items() if name.casefold() == email.casefold()]
    return matches[0] if len(matches) == 1 else None


def _provider_claims() -> Mapping[str, Any] | None:
    """The identity provider's claims about the visitor, or None when nobody is signed in through it."""
    # .get, not .is_logged_in: st.user leaves is_logged_in out when it cannot see an [auth] section.
    if not oidc_configured() or not st.user.get("is_logged_in"):
        return None
    return st.user.to_dict()


def _session_still_valid(user: SignedInUser) -> bool:
    """A password session lives while its server-side row does: not idle too long, not too old, not ended."""
    if user.session_id is None:
        return True
    return (
        session_store.valid_session(
            queries.engine(),
            user.session_id,
            now=queries.now(),
            idle=session.idle_timeout(),
            lifetime=session.lifetime(),
        )
        is not None
    )


def _user_from_cookie() -> SignedInUser | None:
    """The user whose session the browser's signed cookie names (a refresh, or another replica)."""
    session_id = session.read_cookie(st.context.cookies.get(session.COOKIE_NAME))
    if session_id is None:
        return None
    row = session_store.valid_session(
        queries.engine(),
        session_id,
        now=queries.now(),
        idle=session.idle_timeout(),
        lifetime=session.lifetime(),
    )
    if row is None or row.method != "password":
        return None
    record = load_users().get(row.user_name)
    if record is None:  # removed from the users file since: the session does not outlive the user
        return None
    user = SignedInUser(name=record.name, role=record.role, method="password", session_id=row.id)
    st.session_state[SESSION_KEY] = user
    return user


def current_user() -> SignedInUser | None:
    user = st.session_state.get(SESSION_KEY)
    if isinstance(user, SignedInUser):
        if user.method == "password":
            if _session_still_valid(user):
                return user
            del st.session_state[SESSION_KEY]
            st.session_state[_ENDED_KEY] = "expired"
            return None
        claims = _provider_claims()
        if claims is not None and str(claims.get("email") or "").strip() == user.name:
            return user
        # The provider's session ended (signed out elsewhere, cookie expired): so does ours.
        del st.session_state[SESSION_KEY]
    if not oidc_configured():
        return _user_from_cookie()
    claims = _provider_claims()
    return None if claims is None else _oidc_user(claims)


def _oidc_user(claims: Mapping[str, Any]) -> SignedInUser | None:
    record = role_for_identity(claims, load_users())
    if record is None:
        return None
    email = str(claims["email"]).strip()
    user = SignedInUser(name=email, role=record.role, method="oidc")
    st.session_state[SESSION_KEY] = user
    queries.record_audit(actor=email, action="sign_in", target=None, detail={"method": "oidc"})
    return user


def render_sign_in(requested_page: str = "") -> None:
    """The sign-in screen: a provider button with OIDC, a name/password form without. `requested_page`
    is the url path the visitor asked for: after sign-in they land there, with the same query string."""
    st.title("payops")
    st.caption("Payment operations for Razorpay merchants. Sign in to continue.")
    if oidc_configured():
        claims = _provider_claims()
        if claims is not None:
            email = str(claims.get("email") or "This account")
            if claims.get("email_verified") is False:
                st.error(f"{email} is not verified by the identity provider, so it cannot sign in.")
            else:
                st.error(
                    f"{email} is signed in but has no payops role. Ask an admin to run "
                    "`python -m dashboard users add EMAIL --role ROLE --oidc`."
                )
            st.button("Sign out", on_click=st.logout)
        else:
            st.button("Sign in with your company account", type="primary", on_click=st.login)
        return
    try:
        has_users = bool(load_users())
    except UsersFileError as error:
        st.error(f"The users file cannot be read: {error}")
        return
    if not has_users:
        st.info(
            "No users yet. Create one with `python -m dashboard users add NAME --role admin`, "
            "or `python -m dashboard demo-users` for one user per role."
        )
    if st.session_state.pop(_ENDED_KEY, None) == "expired":
        st.info(
            f"Your session ended (idle for {get_settings().payops_session_idle_minutes:g} minutes, past "
            "its lifetime, or signed out in another tab). Sign in again."
        )
    if _looks_like_demo():
        st.info(DEMO_SIGN_IN_HINT, icon=":material/info:")
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="sign_in_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        _sign_in(name.strip(), password, requested_page)


def _looks_like_demo() -> bool:
    settings = get_settings()
    return settings.payops_replay_progress_file is not None


def client_address() -> str | None:
    """The visitor's address: a trusted proxy's header when configured, else the connection's."""
    header = get_settings().payops_client_ip_header
    if header:
        value = st.context.headers.get(header)
        if value:
            return value.split(",")[0].strip()[:64]
    return st.context.ip_address


@dataclass(frozen=True)
class Throttle:
    locked_until: datetime | None
    reason: str = ""


def throttle_for(name: str, address: str | None, now: datetime) -> Throttle:
    """Locked when the name had 5 (or the address 20) failures in the last 15 minutes (settings)."""
    settings = get_settings()
    window = timedelta(minutes=settings.payops_sign_in_window_minutes)
    counts = session_store.sign_in_failures(
        queries.engine(), name=name, address=address, since=now - window, until=now
    )
    if counts.by_name >= settings.payops_sign_in_max_failures_per_name and counts.name_window_start:
        return Throttle(counts.name_window_start + window, "name")
    if counts.by_address >= settings.payops_sign_in_max_failures_per_address and counts.address_window_start:
        return Throttle(counts.address_window_start + window, "address")
    return Throttle(None)


def _sign_in(name: str, password: str, requested_page: str) -> None:
    now = queries.now()
    address = client_address()
    target = f"{session_store.ADDRESS_PREFIX}{address}" if address else None
    actor = name[:128] or "-"
    throttle = throttle_for(actor, address, now)
    if throttle.locked_until is not None:
        queries.record_audit(
            actor=actor, action="sign_in_locked", target=target, detail={"locked_by": throttle.reason}
        )
        minutes = max(1, int((throttle.locked_until - now).total_seconds() // 60) + 1)
        st.error(f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        return
    record = verify_password(name, password)
    if record is None:
        queries.record_audit(
            actor=actor, action=session_store.SIGN_IN_FAILED, target=target, detail={"method": "password"}
        )
        st.error("Name or password is not right.")
        return
    session_id = session.new_session_id()
    session_store.create_session(
        queries.engine(),
        session_id=session_id,
        user_name=record.name,
        role=record.role.value,
        method="password",
        now=now,
    )
    st.session_state[SESSION_KEY] = SignedInUser(
        name=record.name, role=record.role, method="password", session_id=session_id
    )
    queries.record_audit(actor=record.name, action="sign_in", target=target, detail={"method": "password"})
    if session.routes_mounted():
        target_path = session.next_path(
            requested_page, {key: st.query_params.get_all(key) for key in st.query_params}
        )
        st.session_state[_COOKIE_REDIRECT_KEY] = session.start_url(
            session.make_grant(session_id), target_path
        )
    st.rerun()


def follow_cookie_redirect() -> None:
    """Send the browser through a pending cookie route (after sign-in or sign-out), with a plain link
    for a browser that runs no script."""
    url = st.session_state.pop(_COOKIE_REDIRECT_KEY, None)
    if not isinstance(url, str):
        return
    st.html(f"<script>window.location.replace({json.dumps(url)});</script>", unsafe_allow_javascript=True)
    st.link_button("Continue", url)


def sign_out() -> None:
    user = st.session_state.pop(SESSION_KEY, None)
    if isinstance(user, SignedInUser) and user.session_id is not None:
        session_store.end_session(queries.engine(), user.session_id, now=queries.now())
        queries.record_audit(actor=user.name, action="sign_out", target=None, detail={})
        if session.routes_mounted():
            st.session_state[_COOKIE_REDIRECT_KEY] = session.END_PATH
    if isinstance(user, SignedInUser) and user.method == "oidc":
        st.logout()


def require_page(page_key: str) -> SignedInUser:
    """Every page's first line: stop here unless the signed-in role may see this page."""
    user = current_user()
    if user is None:
        st.warning("Please sign in first.")
        st.stop()
    if not can_see(user.role, page_key):
        st.error(NOT_FOR_ROLE.format(role=user.role.value))
        st.stop()
    return user
