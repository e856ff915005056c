"""The dashboard's entry point (`streamlit run dashboard/app.py`): sign-in, then only the signed-in
role's pages go to `st.navigation`, so any other page's URL leads nowhere."""

import streamlit as st

from dashboard.auth import current_user, render_sign_in, sign_out
from dashboard.errors import run_page
from dashboard.replay import show_replay_banner
from dashboard.roles import pages_for

st.set_page_config(page_title="payops", page_icon=":material/payments:", layout="wide")

user = current_user()
if user is None:
    st.navigation(
        [st.Page(render_sign_in, title="Sign in", icon=":material/login:")], position="hidden"
    ).run()
else:
    pages = [
        st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path, default=index == 0)
        for index, page in enumerate(pages_for(user.role))
    ]
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** · {user.role.value}")
        st.button("Sign out", on_click=sign_out, key="sign_out")
    navigation = st.navigation(pages)
    show_replay_banner()
    run_page(navigation)
