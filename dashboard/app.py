"""The dashboard's entry point (`streamlit run dashboard/server.py` serves it with the session routes):
sign-in, then the signed-in role's pages go to `st.navigation` (dashboard/navigation.py)."""

import streamlit as st

from dashboard.auth import current_user, follow_cookie_redirect, sign_out
from dashboard.errors import run_page
from dashboard.navigation import signed_in_pages, signed_out_pages
from dashboard.replay import show_replay_banner

st.set_page_config(page_title="payops", page_icon=":material/payments:", layout="wide")

user = current_user()
follow_cookie_redirect()
if user is None:
    st.navigation(signed_out_pages(), position="hidden").run()
else:
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** · {user.role.value}")
        st.button("Sign out", on_click=sign_out, key="sign_out")
    navigation = st.navigation(signed_in_pages(user))
    show_replay_banner()
    run_page(navigation)
