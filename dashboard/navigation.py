"""The router's page list: every page's URL is registered for everyone, so a shared link never lands on
"Page not found". Signed out, each URL shows the sign-in form and remembers the page it was for; signed
in, the role's pages are the menu and any other page's URL says it is not for this role."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from dashboard.auth import NOT_FOR_ROLE, SignedInUser, render_sign_in
from dashboard.roles import PAGES, PageSpec, pages_for

SIGN_IN_URL_PATH = "sign-in"


def _sign_in_for(url_path: str) -> Callable[[], None]:
    def sign_in() -> None:
        render_sign_in(url_path)

    return sign_in


def _not_for_role(spec: PageSpec, user: SignedInUser) -> Callable[[], None]:
    def not_for_role() -> None:
        st.title(spec.title)
        st.error(NOT_FOR_ROLE.format(role=user.role.value), icon=":material/block:")

    return not_for_role


def signed_out_pages() -> list[StreamlitPage]:
    pages = [
        st.Page(
            _sign_in_for(""),
            title="Sign in",
            icon=":material/login:",
            url_path=SIGN_IN_URL_PATH,
            default=True,
        )
    ]
    pages += [
        st.Page(_sign_in_for(spec.url_path), title=spec.title, url_path=spec.url_path, visibility="hidden")
        for spec in PAGES.values()
    ]
    return pages


def signed_in_pages(user: SignedInUser) -> list[StreamlitPage]:
    allowed = pages_for(user.role)
    pages = [
        st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=index == 0)
        for index, spec in enumerate(allowed)
    ]
    pages += [
        st.Page(_not_for_role(spec, user), title=spec.title, url_path=spec.url_path, visibility="hidden")
        for spec in PAGES.values()
        if spec not in allowed
    ]
    return pages
