"""payops Streamlit dashboard: router, sign-in, roles, shared widgets and formatting."""
