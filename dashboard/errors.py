"""What a user sees when a page fails unexpectedly: a short message with a reference, never a traceback
with file paths; the traceback goes to the server log under the same reference. The navigation and the
other pages keep working."""

from __future__ import annotations

import logging
import uuid

import streamlit as st
from streamlit.navigation.page import StreamlitPage

log = logging.getLogger("payops.dashboard")


def run_page(page: StreamlitPage) -> None:
    """`page.run()`, with any unexpected error turned into a friendly message plus a logged traceback.

    st.stop, st.rerun and st.switch_page raise Streamlit's ScriptControlException, a BaseException, so
    they pass through untouched."""
    try:
        page.run()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("page %r failed (reference %s)", page.title, reference)
        st.error(
            f"Something went wrong on this page, so it could not be shown. Other pages still work; "
            f"reloading may help. If it keeps happening, give your administrator reference **{reference}** "
            "(the details are in the server log).",
            icon=":material/error:",
        )
