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


# Words that stay upper-case wherever a code is turned into words ("Upi", "Pin" read as typos).
ACRONYMS: dict[str, str] = {
    word.lower(): word
    for word in ("UPI", "PIN", "OTP", "EMI", "CVV", "3DS", "ID", "VPA", "IFSC", "UTR", "KYC", "API", "PSP")
}

# Razorpay's payment methods (`method`) as people name them; an unknown method reads as words.
METHOD_NAMES: dict[str, str] = {
    "upi": "UPI",
    "netbanking": "Netbanking",
    "emi": "EMI",
    "cardless_emi": "Cardless EMI",
    "paylater": "Pay later",
    "card": "Card",
    "wallet": "Wallet",
    "bank_transfer": "Bank transfer",
}

# How a payment's country was derived (sync/normalise.py derive_country), as the phrase after "from".
COUNTRY_SOURCES: dict[str, str] = {
    "notes": "the order notes",
    "phone": "the phone number",
    "phone_calling_code": "the phone's calling code",
    "international_currency": "the international flag and currency",
    "domestic_method": "a domestic-only method (UPI, netbanking)",
    "unknown": "nothing (unknown)",
}


def words(code: str | None) -> str:
    """Any snake_case code as a sentence-case phrase, acronyms upper-case: `upi_invalid_beneficiary` →
    `UPI invalid beneficiary`, `incorrect_pin` → `Incorrect PIN`; `—` for none."""
    if code is None or not str(code).strip():
        return "—"
    parts = str(code).replace("_", " ").split()
    shown = [ACRONYMS.get(part.lower(), part) for part in parts]
    first = shown[0]
    shown[0] = first if first.lower() in ACRONYMS else first[:1].upper() + first[1:]
    return " ".join(shown)


def reason_text(code: str | None) -> str:
    """A snake_case reason (or step, source, status) code as words: `payment_timed_out` → `Payment timed
    out`, `incorrect_pin` → `Incorrect PIN`."""
    return words(code)


def method_label(code: str | None) -> str:
    """A payment method as people name it: `upi` → `UPI`, `paylater` → `Pay later`."""
    if not code:
        return "—"
    return METHOD_NAMES.get(str(code).lower(), words(code))


def country_label(code: str | None) -> str:
    """A country code as its name with the code kept: `IN` → `India (IN)`; `unknown`/none → `Unknown`."""
    from dashboard.format import country_name

    if not code or str(code).lower() == "unknown":
        return "Unknown"
    name = country_name(str(code))
    return f"{name} ({str(code).upper()})" if name.upper() != str(code).upper() else str(code).upper()


def country_derivation(sources: str | None) -> str:
    """The rollup's `phone:14200, notes:522` as a sentence: `from the phone number: 14,200 · from the order
    notes: 522` (Indian grouping)."""
    from dashboard.format import count

    if not sources:
        return "—"
    parts = []
    for item in str(sources).split(","):
        source, _, number = item.strip().rpartition(":")
        if not source:
            parts.append(item.strip())
            continue
        how = COUNTRY_SOURCES.get(source, words(source).lower())
        shown = count(int(number)) if number.isdigit() else number
        parts.append(f"from {how}: {shown}")
    return " · ".join(parts)


def entity_label(entity: str | None) -> str:
    """A synced entity's table name as words: `settlement_lines` → `Settlement lines`."""
    return words(entity)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """A count with its noun agreeing: `1 failure`, `2 failures`, `1,23,456 rows` (Indian grouping)."""
    from dashboard.format import count

    return f"{count(n)} {noun if n == 1 else nouns or noun + 's'}"


def header(column: str) -> str:
    """A column name as a header: `settlement_id` → `Settlement id`. Deliberately not `words()`: CSV
    exports use these headers and finance's joins read them as they are."""
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def rows(n: int) -> str:
    """`1 row`, `2 rows` (with Indian grouping for big counts)."""
    return plural(n, "row")
