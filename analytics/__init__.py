"""Analytics: success rates, failure reasons, webhook health, reconciliation rules and rollups.

Public API: see analytics/README.md. No Streamlit here; every query uses bound parameters.
"""
