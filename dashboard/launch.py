"""`payops-dashboard [streamlit run options]`: `streamlit run dashboard/app.py` from any folder.

Streamlit still reads `.streamlit/config.toml` and `secrets.toml` from the current folder, as with
`streamlit run`, so start it from the project folder (or set the same keys in the environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.web import cli as streamlit_cli

APP = Path(__file__).resolve().parent / "app.py"


def main() -> None:
    streamlit_cli.main(["run", str(APP), *sys.argv[1:]], prog_name="payops-dashboard")
