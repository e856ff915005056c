"""The dashboard as an ASGI app: Streamlit (`dashboard/app.py`) plus the session cookie's routes and the
one-time CSV download route (dashboard/downloads.py).

`streamlit run dashboard/server.py` (what `payops-dashboard` and `make demo` start) finds `app` here and
serves it; `uvicorn dashboard.server:app` does the same. `streamlit run dashboard/app.py` still works,
but without the routes a refresh signs the user out (the session lives in the websocket only) and CSV
downloads fall back to Streamlit's in-memory download button.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.downloads import download_routes
from dashboard.session import session_routes

APP_SCRIPT = Path(__file__).resolve().parent / "app.py"

app = st.App(APP_SCRIPT, routes=[*session_routes(), *download_routes()])
