"""Who is signed in: Streamlit's OIDC (`st.login`) when `[auth]` is configured, else the local users file.

Either way the role comes from the users file, and every page calls `require_page` as its own guard,
so a page is unreachable even if someone types its URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

from dashboard import queries
from dashboard.roles import Role, can_see
from dashboard.users import UserRecord, UsersFileError, load_users, verify_password

SESSION_KEY = "payops_user"


@dataclass(frozen=True)
class SignedInUser:
    name: str
    role: Role
    method: Literal["password", "oidc"]


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


def current_user() -> SignedInUser | None:
    user = st.session_state.get(SESSION_KEY)
    if isinstance(user, SignedInUser):
        if user.method == "password":
            return user
        claims = _provider_claims()
        if claims is not None and str(claims.get("email") or "").strip() == user.name:
            return user
        # The provider's session ended (signed out elsewhere, cookie expired): so does ours.
        del st.session_state[SESSION_KEY]
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


def render_sign_in() -> None:
    """The sign-in screen: a provider button with OIDC, a name/password form without."""
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
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        record = verify_password(name.strip(), password)
        if record is None:
            queries.record_audit(
                actor=name.strip()[:128] or "-", action="sign_in_failed", target=None, detail={}
            )
            st.error("Name or password is not right.")
            return
        st.session_state[SESSION_KEY] = SignedInUser(name=record.name, role=record.role, method="password")
        queries.record_audit(actor=record.name, action="sign_in", target=None, detail={"method": "password"})
        st.rerun()


def sign_out() -> None:
    user = st.session_state.pop(SESSION_KEY, None)
    if isinstance(user, SignedInUser) and user.method == "oidc":
        st.logout()


def require_page(page_key: str) -> SignedInUser:
    """Every page's first line: stop here unless the signed-in role may see this page."""
    user = current_user()
    if user is None:
        st.warning("Please sign in first.")
        st.stop()
    if not can_see(user.role, page_key):
        st.error("Your role does not include this page.")
        st.stop()
    return user
