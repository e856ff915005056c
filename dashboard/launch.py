"""`payops-dashboard [streamlit run options]`: `streamlit run dashboard/server.py` from any folder (the
Streamlit app plus the session cookie's routes; see dashboard/session.py).

Streamlit still reads `.streamlit/config.toml` and `secrets.toml` from the current folder, as with
`streamlit run`, so start it from the project folder (or set the same keys in the environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli as streamlit_cli

APP = Path(__file__).resolve().parent / "server.py"


def main() -> None:
    streamlit_cli.main(["run", str(APP), *sys.argv[1:]], prog_name="payops-dashboard")
