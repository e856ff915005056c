"""Static reference tables the generator draws from: geographies, methods, banks, networks, wallets,
UPI handles, fee rates and Razorpay's failure-reason catalogue. Pure data, no randomness here.
"""

from __future__ import annotations

from dataclasses import dataclass

GST_RATE_PERCENT = 18

# --- geography -------------------------------------------------------------------------------
# (ISO country, calling code, currency, share of international orders, notes-country share)
COUNTRIES: tuple[str, ...] = ("IN", "US", "GB", "AE", "SG", "DE", "FR", "AU", "CA")
CALLING_CODES: tuple[str, ...] = ("91", "1", "44", "971", "65", "49", "33", "61", "1")
COUNTRY_CURRENCY: tuple[str, ...] = ("INR", "USD", "GBP", "AED", "SGD", "EUR", "EUR", "AUD", "USD")
# Share of non-Indian orders by country (index 1.. of COUNTRIES).
ABROAD_WEIGHTS: tuple[float, ...] = (0.38, 0.16, 0.14, 0.08, 0.07, 0.05, 0.06, 0.06)
INDIA_SHARE = 0.9
# National significant numbers: (prefixes, digits after the prefix). They parse as valid mobiles.
PHONE_SHAPES: tuple[tuple[tuple[str, ...], int], ...] = (
    (
        (
            "98",
            "99",
            "97",
            "96",
            "95",
            "94",
            "93",
            "91",
            "90",
            "89",
            "88",
            "87",
            "86",
            "85",
            "84",
            "83",
            "82",
            "81",
            "80",
            "79",
            "78",
            "77",
            "76",
            "75",
            "74",
            "73",
            "72",
            "70",
            "63",
            "62",
        ),
        8,
    ),
    (("2125", "4155", "6463", "3104", "3126", "6172", "2067", "5124"), 6),
    (("7400", "7500", "7800", "7900", "7380", "7555", "7411", "7723"), 6),
    (("50", "52", "54", "55", "56", "58"), 7),
    (("81", "83", "87", "88", "90", "91", "93", "96"), 6),
    (("151", "160", "170", "171", "176"), 8),
    (("60", "61", "62", "64", "66", "67", "75", "76"), 7),
    (("400", "401", "403", "404", "406", "408", "412", "414"), 6),
    (("4162", "4165", "6043", "6046"), 6),
)
CURRENCIES: tuple[str, ...] = ("INR", "USD", "GBP", "AED", "SGD", "EUR", "AUD")

# --- methods ---------------------------------------------------------------------------------
METHODS: tuple[str, ...] = ("upi", "card", "netbanking", "wallet", "emi", "paylater")
M_UPI, M_CARD, M_NETBANKING, M_WALLET, M_EMI, M_PAYLATER = range(6)
INDIA_METHOD_WEIGHTS: tuple[float, ...] = (0.56, 0.21, 0.10, 0.07, 0.03, 0.03)
# Abroad: international cards, a few PayPal wallet payments.
ABROAD_METHOD_WEIGHTS: tuple[float, ...] = (0.0, 0.93, 0.0, 0.07, 0.0, 0.0)

BANKS: tuple[str, ...] = (
    "HDFC",
    "ICIC",
    "SBIN",
    "UTIB",
    "KKBK",
    "PUNB",
    "BARB",
    "YESB",
    "IDFB",
    "INDB",
    "CNRB",
    "UBIN",
)
BANK_WEIGHTS: tuple[float, ...] = (0.2, 0.17, 0.2, 0.11, 0.08, 0.05, 0.05, 0.03, 0.03, 0.03, 0.02, 0.03)
# Netbanking success differs by bank (public sector banks' pages time out more often).
BANK_SUCCESS: tuple[float, ...] = (0.92, 0.9, 0.76, 0.89, 0.9, 0.78, 0.8, 0.84, 0.88, 0.87, 0.77, 0.79)

NETWORKS: tuple[str, ...] = ("Visa", "MasterCard", "RuPay", "American Express", "Diners Club")
N_VISA, N_MASTERCARD, N_RUPAY, N_AMEX, N_DINERS = range(5)
INDIA_NETWORK_WEIGHTS: tuple[float, ...] = (0.42, 0.3, 0.23, 0.03, 0.02)
ABROAD_NETWORK_WEIGHTS: tuple[float, ...] = (0.55, 0.33, 0.0, 0.12, 0.0)
NETWORK_SUCCESS: tuple[float, ...] = (0.88, 0.87, 0.81, 0.84, 0.79)
CARD_TYPES: tuple[str, ...] = ("debit", "credit", "prepaid")
CARD_TYPE_WEIGHTS: tuple[float, ...] = (0.5, 0.45, 0.05)

WALLETS: tuple[str, ...] = ("paytm", "phonepe", "amazonpay", "mobikwik", "freecharge", "paypal")
INDIA_WALLET_WEIGHTS: tuple[float, ...] = (0.38, 0.27, 0.22, 0.09, 0.04, 0.0)
WALLET_SUCCESS: tuple[float, ...] = (0.91, 0.93, 0.94, 0.86, 0.85, 0.88)
PAYLATER_PROVIDERS: tuple[str, ...] = ("lazypay", "simpl", "icic", "hdfc")
PAYLATER_WEIGHTS: tuple[float, ...] = (0.45, 0.3, 0.15, 0.1)

# UPI handles: the app a VPA belongs to.
UPI_HANDLES: tuple[str, ...] = (
    "okhdfcbank",
    "okicici",
    "oksbi",
    "okaxis",
    "ybl",
    "ibl",
    "axl",
    "paytm",
    "apl",
    "upi",
)
UPI_HANDLE_WEIGHTS: tuple[float, ...] = (0.08, 0.08, 0.07, 0.08, 0.3, 0.05, 0.04, 0.16, 0.06, 0.08)
UPI_FLOWS: tuple[str, ...] = ("intent", "collect")
UPI_FLOW_WEIGHTS: tuple[float, ...] = (0.72, 0.28)
UPI_FLOW_SUCCESS: tuple[float, ...] = (0.91, 0.74)
UPI_PAYER_ACCOUNT_TYPES: tuple[str, ...] = ("bank_account", "credit_card", "wallet")
UPI_PAYER_ACCOUNT_WEIGHTS: tuple[float, ...] = (0.9, 0.07, 0.03)

METHOD_SUCCESS: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.82, 0.79)  # others come from the sub-tables
INTERNATIONAL_CARD_SUCCESS = 0.72

# Success multiplier by IST hour: bank maintenance windows at night, load at the evening peak.
HOUR_SUCCESS: tuple[float, ...] = (
    0.93,
    0.9,
    0.88,
    0.88,
    0.92,
    0.96,
    0.99,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    1.0,
    0.99,
    0.98,
    0.97,
    0.97,
    0.98,
    0.96,
)
# Traffic weight by IST hour (shopping peaks at lunch and late evening).
HOUR_TRAFFIC: tuple[float, ...] = (
    1.6,
    0.9,
    0.6,
    0.4,
    0.4,
    0.6,
    1.2,
    2.2,
    3.4,
    4.4,
    5.2,
    5.8,
    6.2,
    6.0,
    5.6,
    5.4,
    5.4,
    5.6,
    6.0,
    6.8,
    7.4,
    7.2,
    5.6,
    3.2,
)
# Traffic weight by weekday (Monday = 0); weekends are busier for consumers.
WEEKDAY_TRAFFIC: tuple[float, ...] = (0.95, 0.93, 0.95, 0.97, 1.02, 1.12, 1.08)


# --- fees ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeeRange:
    """Razorpay's fee before GST, as a fraction of the amount (basis points)."""

    low_bp: int
    high_bp: int


# Keyed by fee class (see generator._fee_class): domestic methods, premium cards, international.
FEE_CLASSES: tuple[str, ...] = (
    "upi",
    "card_domestic",
    "card_premium",
    "card_international",
    "netbanking",
    "wallet",
    "emi",
    "paylater",
)
FEE_RANGES: tuple[FeeRange, ...] = (
    FeeRange(0, 50),
    FeeRange(180, 220),
    FeeRange(280, 300),
    FeeRange(300, 350),
    FeeRange(180, 200),
    FeeRange(180, 220),
    FeeRange(250, 300),
    FeeRange(200, 250),
)
# A planted fee_rate_anomaly charges this much (before GST), far above every class's high end.
ANOMALOUS_FEE_BP = (700, 1000)


# --- failure reasons -------------------------------------------------------------------------
@dataclass(frozen=True)
class FailureReason:
    code: str
    source: str
    step: str
    reason: str
    description: str


FAILURES: tuple[FailureReason, ...] = (
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authentication",
        "payment_cancelled",
        "Payment processing cancelled by user",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authentication",
        "payment_timed_out",
        "Payment was not completed on time.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authorization",
        "incorrect_pin",
        "Payment failed because an incorrect PIN was entered.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authorization",
        "insufficient_funds",
        "Payment failed due to insufficient balance in account.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authentication",
        "authentication_failed",
        "Payment failed because cardholder couldn't be authenticated.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "bank",
        "payment_authorization",
        "bank_technical_error",
        "Payment failed because of a technical error at the bank.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "bank",
        "payment_authorization",
        "card_declined",
        "Payment declined by the issuing bank.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "internal",
        "payment_initiation",
        "payment_risk_check_failed",
        "The payment was blocked by Razorpay's risk check.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_initiation",
        "upi_invalid_beneficiary",
        "Payment failed because the UPI ID is invalid.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "customer",
        "payment_authorization",
        "transaction_limit_exceeded",
        "Payment failed because the transaction limit set by the bank was exceeded.",
    ),
    FailureReason(
        "GATEWAY_ERROR",
        "gateway",
        "payment_authorization",
        "gateway_technical_error",
        "Payment failed due to a technical error at the payment gateway.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "business",
        "payment_initiation",
        "payment_amount_limit_exceeded",
        "The amount exceeds the maximum amount allowed for this merchant.",
    ),
    FailureReason(
        "BAD_REQUEST_ERROR",
        "bank",
        "payment_authorization",
        "international_transaction_not_allowed",
        "Payment failed because international transactions are not enabled on the card.",
    ),
    FailureReason(
        "SERVER_ERROR",
        "internal",
        "payment_authorization",
        "server_error",
        "Payment failed due to an internal error. Please try again.",
    ),
)
F = {failure.reason: index for index, failure in enumerate(FAILURES)}

# Weights over FAILURES by kind of payment: (upi, domestic card, international card, netbanking, wallet,
# emi, paylater). Rows must list every FAILURES index (zero where the reason does not apply).
_FAILURE_WEIGHTS: dict[str, dict[str, float]] = {
    "upi": {
        "payment_cancelled": 22,
        "payment_timed_out": 26,
        "incorrect_pin": 16,
        "insufficient_funds": 12,
        "bank_technical_error": 10,
        "upi_invalid_beneficiary": 5,
        "transaction_limit_exceeded": 4,
        "payment_risk_check_failed": 1.5,
        "gateway_technical_error": 2,
        "server_error": 0.5,
        "payment_amount_limit_exceeded": 1,
    },
    "card": {
        "payment_cancelled": 18,
        "authentication_failed": 26,
        "card_declined": 18,
        "insufficient_funds": 12,
        "bank_technical_error": 9,
        "payment_risk_check_failed": 5,
        "gateway_technical_error": 5,
        "payment_timed_out": 5,
        "server_error": 1,
        "payment_amount_limit_exceeded": 1,
    },
    "card_international": {
        "authentication_failed": 28,
        "card_declined": 22,
        "payment_risk_check_failed": 16,
        "international_transaction_not_allowed": 14,
        "payment_cancelled": 10,
        "gateway_technical_error": 6,
        "insufficient_funds": 4,
    },
    "netbanking": {
        "payment_cancelled": 34,
        "payment_timed_out": 22,
        "bank_technical_error": 24,
        "authentication_failed": 10,
        "insufficient_funds": 6,
        "gateway_technical_error": 4,
    },
    "wallet": {
        "payment_cancelled": 38,
        "insufficient_funds": 24,
        "payment_timed_out": 18,
        "authentication_failed": 12,
        "gateway_technical_error": 6,
        "server_error": 2,
    },
    "emi": {
        "card_declined": 30,
        "authentication_failed": 26,
        "payment_cancelled": 18,
        "payment_risk_check_failed": 12,
        "bank_technical_error": 14,
    },
    "paylater": {
        "payment_cancelled": 30,
        "payment_risk_check_failed": 26,
        "transaction_limit_exceeded": 20,
        "authentication_failed": 14,
        "gateway_technical_error": 10,
    },
}
FAILURE_KINDS: tuple[str, ...] = (
    "upi",
    "card",
    "card_international",
    "netbanking",
    "wallet",
    "emi",
    "paylater",
)


def failure_weights(kind: str) -> list[float]:
    """Normalised weights over FAILURES for one kind of payment."""
    row = _FAILURE_WEIGHTS[kind]
    weights = [float(row.get(failure.reason, 0.0)) for failure in FAILURES]
    total = sum(weights)
    return [weight / total for weight in weights]


FIRST_NAMES: tuple[str, ...] = (
    "aarav",
    "vivaan",
    "aditya",
    "ananya",
    "diya",
    "ishaan",
    "kavya",
    "rohan",
    "priya",
    "sneha",
    "arjun",
    "meera",
    "rahul",
    "pooja",
    "vikram",
    "neha",
    "karan",
    "riya",
    "sanjay",
    "lakshmi",
    "john",
    "emma",
    "oliver",
    "sophia",
    "liam",
    "ava",
    "fatima",
    "omar",
    "wei",
    "mei",
    "lukas",
    "chloe",
)
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.co.in",
    "outlook.com",
    "hotmail.com",
    "rediffmail.com",
    "icloud.com",
)


# --- international payments: the base currency -------------------------------------------------
# Razorpay credits an Indian account in INR at the conversion rate of the moment of payment: paise per
# 100 minor units of each currency (one fixed rate per currency is enough for a stand-in).
BASE_CURRENCY = "INR"
PAISE_PER_100_MINOR: tuple[int, ...] = (100, 8_316, 10_524, 2_264, 6_190, 9_012, 5_470)  # as CURRENCIES

# --- disputes ----------------------------------------------------------------------------------
DISPUTE_PHASES: tuple[str, ...] = ("chargeback", "retrieval", "fraud", "pre_arbitration")
DISPUTE_PHASE_WEIGHTS: tuple[float, ...] = (0.7, 0.15, 0.1, 0.05)
# (reason_code, reason_description)
DISPUTE_REASONS: tuple[tuple[str, str], ...] = (
    ("goods_not_received", "The customer says the goods or services were not received."),
    ("fraudulent", "The cardholder does not recognise the transaction."),
    ("duplicate_processing", "The customer says the payment was charged twice."),
    ("not_as_described", "The customer says the goods were not as described."),
    ("credit_not_processed", "The customer says a promised refund was not processed."),
)
DISPUTE_REASON_WEIGHTS: tuple[float, ...] = (0.35, 0.3, 0.1, 0.15, 0.1)
DISPUTE_OUTCOMES: tuple[str, ...] = ("won", "lost", "closed")
# Share of captured card payments that get disputed, and how long a merchant has to respond.
DISPUTE_RATE = 0.01
DISPUTE_RESPOND_DAYS = 7

# --- downtimes -----------------------------------------------------------------------------------
DOWNTIME_SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
