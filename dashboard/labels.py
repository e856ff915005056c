"""Human names for the codes payments carry: netbanking bank codes, UPI handles (grouped by the app that
issues them), failure reasons, column names. One documented table each, so every page agrees.

Sources: bank codes are the first four letters of the IFSC (RBI's IFSC list), which is what Razorpay's
`bank` field holds for netbanking; UPI handles are the PSP handles NPCI lists per third-party app
("UPI 3rd party apps" on npci.org.in). A code missing here is shown as it is, never hidden.
"""

from __future__ import annotations

BANK_NAMES: dict[str, str] = {
    "AUBL": "AU Small Finance Bank",
    "BARB": "Bank of Baroda",
    "BKID": "Bank of India",
    "CBIN": "Central Bank of India",
    "CNRB": "Canara Bank",
    "FDRL": "Federal Bank",
    "HDFC": "HDFC Bank",
    "ICIC": "ICICI Bank",
    "IDFB": "IDFC FIRST Bank",
    "IDIB": "Indian Bank",
    "INDB": "IndusInd Bank",
    "IOBA": "Indian Overseas Bank",
    "KARB": "Karnataka Bank",
    "KKBK": "Kotak Mahindra Bank",
    "MAHB": "Bank of Maharashtra",
    "PUNB": "Punjab National Bank",
    "RATN": "RBL Bank",
    "SBIN": "State Bank of India",
    "UBIN": "Union Bank of India",
    "UCBA": "UCO Bank",
    "UTIB": "Axis Bank",
    "YESB": "Yes Bank",
}

# PSP handle (the part of a VPA after "@") → the app that issues it.
UPI_HANDLE_APPS: dict[str, str] = {
    "okaxis": "Google Pay",
    "okhdfcbank": "Google Pay",
    "okicici": "Google Pay",
    "oksbi": "Google Pay",
    "ybl": "PhonePe",
    "ibl": "PhonePe",
    "axl": "PhonePe",
    "paytm": "Paytm",
    "ptyes": "Paytm",
    "ptaxis": "Paytm",
    "pthdfc": "Paytm",
    "ptsbi": "Paytm",
    "apl": "Amazon Pay",
    "yapl": "Amazon Pay",
    "rapl": "Amazon Pay",
    "waaxis": "WhatsApp",
    "wahdfcbank": "WhatsApp",
    "waicici": "WhatsApp",
    "wasbi": "WhatsApp",
    "upi": "BHIM",
    "ikwik": "MobiKwik",
    "axisb": "CRED",
    "jupiteraxis": "Jupiter",
    "fam": "FamPay",
    "freecharge": "Freecharge",
}
OTHER_APP = "Other / bank app"


def bank_name(code: str | None) -> str:
    """`UTIB` → `Axis Bank (UTIB)`; an unknown code as it is; `—` for none."""
    if not code:
        return "—"
    name = BANK_NAMES.get(code.upper())
    return f"{name} ({code.upper()})" if name else code


def upi_app(handle: str | None) -> str:
    """The app that issues a UPI handle: `okhdfcbank` → Google Pay; unknown handles → "Other / bank app"."""
    if not handle:
        return "—"
    return UPI_HANDLE_APPS.get(handle.strip().lower().lstrip("@"), OTHER_APP)


def reason_text(code: str | None) -> str:
    """A snake_case reason code as words: `payment_timed_out` → `Payment timed out`."""
    if not code:
        return "—"
    words = str(code).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def header(column: str) -> str:
    """A column name as a header: `settlement_id` → `Settlement id`."""
    return reason_text(column)


def rows(n: int) -> str:
    """`1 row`, `2 rows` (with Indian grouping for big counts)."""
    from dashboard.format import count

    return f"{count(n)} row" if n == 1 else f"{count(n)} rows"
