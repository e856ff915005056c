"""The one home of configuration: environment variables, else `.streamlit/secrets.toml`, else demo defaults.

Defaults point at the local sandbox so the demo runs with no setup; production sets the real
Razorpay host and keys (see docs/production.md). Secrets are `SecretStr` so they never print.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_TOML = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "payops.db"

SANDBOX_KEY_ID = "rzp_test_sandbox"
SANDBOX_KEY_SECRET = "sandbox_key_secret"  # noqa: S105 - the local sandbox's, not a real secret
SANDBOX_WEBHOOK_SECRET = "sandbox_webhook_secret"  # noqa: S105 - likewise
SANDBOX_BASE_URL = "http://127.0.0.1:9000"
# `python -m sync.webhooks serve --rollup-interval` hands its value to uvicorn's workers through it.
ROLLUP_INTERVAL_ENV = "PAYOPS_WEBHOOK_ROLLUP_INTERVAL"
BODY_TIMEOUT_ENV = "PAYOPS_WEBHOOK_BODY_TIMEOUT"
MAX_PENDING_ENV = "PAYOPS_WEBHOOK_MAX_PENDING"
BATCH_DELAY_ENV = "PAYOPS_WEBHOOK_BATCH_DELAY"
DEFAULT_USERS_FILE = PROJECT_ROOT / ".streamlit" / "users.toml"

# Fee (GST included, as Razorpay reports it) / amount, in basis points, per method: (min, max).
# A rate outside the range usually means a pricing-plan change, a wrong fee bearer, or a fee charged
# on the wrong amount. "*" covers methods not listed.
DEFAULT_FEE_RATE_RANGES: dict[str, tuple[int, int]] = {
    # Razorpay's standard plans, GST included: ~2% domestic (≈2.36% with GST), up to 3% + GST for
    # premium and 3.5% + GST for international cards; UPI is near zero. The ceilings leave headroom
    # for international pricing on any method.
    "card": (100, 450),
    "emi": (100, 450),
    "upi": (0, 450),
    "netbanking": (100, 450),
    "wallet": (100, 450),
    "paylater": (100, 450),
    "cardless_emi": (100, 450),
    "bank_transfer": (0, 450),
    "*": (0, 500),
}


class AlertRules(BaseModel):
    """Thresholds of the alert rules (analytics.alerts). Defaults suit the sandbox demo and a mid-size
    merchant; override one with e.g. ALERTS__MIN_ATTEMPTS=50 or an [alerts] table in secrets.toml."""

    # Success-rate drop: the last `window_hours` IST hours against the same hours of the same weekday
    # over the previous `baseline_weeks` weeks, per slice (method, bank, network, issuer, app, …).
    window_hours: int = Field(1, ge=1, le=24)
    baseline_weeks: int = Field(4, ge=1, le=12)
    min_attempts: int = Field(30, ge=1)
    min_baseline_attempts: int = Field(100, ge=1)
    # A significant drop smaller than this (percentage points) is noise to a person: no alert.
    min_drop_points: float = Field(5.0, ge=0)
    # False-discovery rate over all slices evaluated together (Benjamini-Hochberg).
    false_discovery_rate: float = Field(0.01, gt=0, lt=1)
    # Webhooks. Silence: no event of a type in the last whole hour while the API shows this much activity.
    silence_event_types: tuple[str, ...] = ("payment.captured", "payment.failed")
    silence_min_activity: int = Field(20, ge=1)
    webhook_window_minutes: int = Field(60, ge=1)
    signature_rejections_min: int = Field(5, ge=1)
    non_2xx_min: int = Field(5, ge=1)
    lag_p95_seconds: int = Field(300, ge=1)
    lag_min_events: int = Field(20, ge=1)
    # Dashboard sign-in failures within the webhook window (any names, any addresses): a guessing run.
    sign_in_failures_min: int = Field(20, ge=1)
    # Sync: an entity whose checkpoint is older than this is stale.
    sync_stale_minutes: int = Field(120, ge=1)
    # Settlements: captured value past T+settlement_days business days without a settlement line (from
    # reconciliation's open captured_not_settled mismatches), alerted from this much per currency.
    settlement_overdue_min_amount: int = Field(1, ge=1)  # minor units
    # New mismatches within the window: alert from this many, or from this much money (INR paise).
    new_mismatch_window_hours: int = Field(24, ge=1)
    new_mismatch_min_count: int = Field(10, ge=1)
    new_mismatch_min_amount: int = Field(1_000_000, ge=1)
    # Fraud: the risk signals (analytics.risk, thresholds in RiskRules) that open an alert, one per signal.
    fraud_signal_kinds: tuple[str, ...] = ("card_testing", "velocity")


class RiskRules(BaseModel):
    """Thresholds of the fraud and risk signals (analytics.risk). Signals are for a person to look at;
    payops never blocks or refunds anything. Override like alerts: RISK__CARD_TESTING_MIN_ATTEMPTS=8."""

    window_hours: int = Field(24, ge=1)
    # Card testing: this many small card attempts from one email, phone or card within burst_minutes,
    # at least this share of them failed.
    card_testing_max_amount: int = Field(10_000, ge=1)  # minor units: ₹100
    card_testing_min_attempts: int = Field(5, ge=2)
    card_testing_burst_minutes: int = Field(10, ge=1)
    card_testing_min_failure_share: float = Field(0.6, ge=0, le=1)
    # Velocity: one email or phone with this many successful payments, or this many distinct cards.
    velocity_max_payments: int = Field(10, ge=2)
    velocity_max_cards: int = Field(3, ge=2)
    # International share of attempts rising against the previous baseline_days.
    international_baseline_days: int = Field(7, ge=1)
    international_min_rise_points: float = Field(10.0, ge=0)
    international_min_attempts: int = Field(100, ge=1)
    international_max_p_value: float = Field(0.001, gt=0, lt=1)
    # Disputes needing a response whose respond-by date is this close (or already past).
    dispute_respond_within_hours: int = Field(48, ge=1)


class Settings(BaseSettings):
    """Everything configurable. Keys match DESIGN.md's interface names (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_nested_delimiter="__")

    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    razorpay_key_id: str = SANDBOX_KEY_ID
    razorpay_key_secret: SecretStr = SecretStr(SANDBOX_KEY_SECRET)
    # After rotating the API key, checkout signatures made with the old secret still verify while listed
    # here (comma-separated).
    razorpay_previous_key_secrets: SecretStr = SecretStr("")
    razorpay_base_url: str = SANDBOX_BASE_URL
    # Comma-separated: during a rotation both the old and the new secret verify.
    razorpay_webhook_secret: SecretStr = SecretStr(SANDBOX_WEBHOOK_SECRET)
    # The merchant's own `notes` key holding a buyer's ISO country code, if they set one.
    country_notes_key: str = "country"
    # Reconciliation thresholds (docs/reconciliation.md). Business days after capture by which a payment
    # (or a processed refund) must have a settlement line: Razorpay's T+N.
    settlement_days: int = Field(default=3, ge=0)
    # Days a payment may stay authorized before it is flagged (Razorpay auto-refunds after about that).
    authorized_days: int = Field(default=3, ge=0)
    # Minutes a state change may wait for its webhook before the webhook counts as missing.
    webhook_grace_minutes: int = Field(default=30, ge=0)
    # Expected fee / amount per method in basis points; from the environment as JSON, e.g.
    # FEE_RATE_RANGES='{"card": [100, 450], "*": [0, 500]}'.
    fee_rate_ranges: dict[str, tuple[int, int]] = Field(default_factory=lambda: dict(DEFAULT_FEE_RATE_RANGES))
    http_timeout_seconds: float = 10.0
    # The most API requests the sync keeps in flight; its pace adapts to the 429s it meets.
    sync_max_in_flight: int = Field(default=8, ge=1, le=64)
    # Tiered look-back (sync/tiers.py): `<look-back>@<every>` items, look-back a duration or `full`
    # (each entity's own), every a duration or `run`. The default re-reads the last 30 minutes on every
    # run and the full look-back hourly, and fetches by id what webhooks named in between. Empty: every
    # run re-reads the full look-back (as before tiers).
    sync_lookback_tiers: str = "30m@run,full@1h"
    # Seconds between the webhook receiver's payment-rollup refreshes; 0 = in every write transaction.
    webhook_rollup_interval: float = Field(
        default=1.0,
        ge=0,
        validation_alias=AliasChoices("webhook_rollup_interval", ROLLUP_INTERVAL_ENV.lower()),
    )
    # Seconds a webhook request body may take to arrive before the receiver answers 408.
    webhook_body_timeout: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("webhook_body_timeout", BODY_TIMEOUT_ENV.lower()),
    )
    # Deliveries a receiver process queues for its writer; beyond them it answers 503 + Retry-After
    # at once (Razorpay retries) instead of letting every answer wait past Razorpay's 5 s.
    webhook_max_pending: int = Field(
        default=4096,
        ge=1,
        validation_alias=AliasChoices("webhook_max_pending", MAX_PENDING_ENV.lower()),
    )
    # Seconds a delivery may wait for others to share its database transaction (group commit); a
    # delivery that already waited that long for a busy writer is written at once. 0 = no wait.
    webhook_batch_delay: float = Field(
        default=0.01,
        ge=0,
        le=1,
        validation_alias=AliasChoices("webhook_batch_delay", BATCH_DELAY_ENV.lower()),
    )
    # `/metrics` of the receiver on its own (internal) port instead of the public one; env PAYOPS_METRICS_PORT.
    payops_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    payops_metrics_host: str = "127.0.0.1"
    # `python -m sync schedule`: seconds between runs of each job (0 = that job is off), and the
    # personal-data retention in days (None = keep; the purge job runs daily when it is set).
    payops_schedule_sync_seconds: int = Field(default=300, ge=0)
    payops_schedule_alerts_seconds: int = Field(default=300, ge=0)
    payops_schedule_reconcile_seconds: int = Field(default=900, ge=0)
    # The scheduled reconcile is incremental (what changed since the last pass); a full pass every this
    # many hours re-reads everything (0 = every pass is full). docs/reconciliation.md.
    payops_reconcile_full_every_hours: float = Field(default=24, ge=0)
    payops_schedule_purge_seconds: int = Field(default=86_400, ge=0)
    payops_pii_retention_days: int | None = Field(default=None, ge=1)
    # Days webhook_rejections rows are kept (deleted by the scheduler's daily purge job).
    payops_rejection_retention_days: int = Field(default=30, ge=1)
    # The dashboard's local users file (names, roles, bcrypt hashes); env PAYOPS_USERS_FILE.
    payops_users_file: Path = DEFAULT_USERS_FILE
    # Dashboard sessions (dashboard/session.py): the key that signs the session cookie, the same on every
    # dashboard replica so a request landing on another one keeps the session (env PAYOPS_SESSION_KEY;
    # unset, each process makes a random one and a restart signs everyone out). Idle timeout and lifetime.
    payops_session_key: SecretStr = SecretStr("")
    payops_session_idle_minutes: float = Field(default=30, gt=0)
    payops_session_lifetime_hours: float = Field(default=12, gt=0)
    # Mark the cookie Secure (sent over HTTPS only): on whenever the dashboard is served over TLS.
    payops_session_cookie_secure: bool = False
    # Sign-in throttle (counted from audit_log, so it holds across replicas): failures per typed name and
    # per client address within the window lock that name / address until the window passes.
    payops_sign_in_window_minutes: int = Field(default=15, ge=1)
    payops_sign_in_max_failures_per_name: int = Field(default=5, ge=1)
    payops_sign_in_max_failures_per_address: int = Field(default=20, ge=1)
    # The request header that carries the client's address when a trusted proxy sets it (nginx:
    # X-Real-IP, see deploy/nginx-dashboard.conf). Unset: the connection's own address.
    payops_client_ip_header: str | None = None
    # The demo's webhook-replay progress file (dashboard/replay.py): pages say "replay in progress"
    # until it reads done. Unset everywhere but `make demo`.
    payops_replay_progress_file: Path | None = None
    alerts: AlertRules = AlertRules()
    risk: RiskRules = RiskRules()
    # Where alert notifications go: comma-separated apprise URLs (mailto://, slack://, msteams://,
    # json://…). Empty (the default) sends nothing. Secret because such URLs carry tokens.
    alert_notify_urls: SecretStr = SecretStr("")
    # The dashboard's address, so a notification can link to the page that shows its alert.
    dashboard_url: str = "http://localhost:8501"
    # Bank statements (docs/statements.md): the CSV layout preset (hdfc | icici | generic) and, as
    # JSON, column names that override or replace it, e.g. {"date": "Txn Date", "credit": "Cr"}.
    bank_csv_preset: str = "hdfc"
    bank_csv_columns: dict[str, Any] = {}
    # A credit whose narration or reference contains one of these (case-insensitive) looks like a
    # Razorpay settlement: only such credits are matched on amount and date, and one left unmatched
    # is a break.
    bank_razorpay_patterns: list[str] = ["RAZORPAY", "RZP"]
    statement_upload_max_mb: int = 20
    # Working mismatches in bulk: the reason codes a decision picks from, and the days after the
    # evidence's start by which a mismatch of each severity is due.
    mismatch_reason_codes: list[str] = [
        "timing",
        "bank_delay",
        "razorpay_adjustment",
        "duplicate",
        "data_error",
        "write_off",
        "other",
    ]
    mismatch_due_days: dict[str, int] = {"critical": 1, "high": 3, "medium": 7, "low": 14}

    @field_validator("razorpay_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        # The SDK appends paths that already begin with /v1.
        return value.rstrip("/").removesuffix("/v1")

    @property
    def webhook_secrets(self) -> list[str]:
        raw = self.razorpay_webhook_secret.get_secret_value()
        return [secret.strip() for secret in raw.split(",") if secret.strip()]

    @property
    def checkout_key_secrets(self) -> list[tuple[str, str]]:
        """(label, secret) pairs that verify a checkout signature: the current key secret first."""
        previous = self.razorpay_previous_key_secrets.get_secret_value().split(",")
        return [("current", self.razorpay_key_secret.get_secret_value())] + [
            ("previous", secret.strip()) for secret in previous if secret.strip()
        ]

    @property
    def notify_urls(self) -> list[str]:
        raw = self.alert_notify_urls.get_secret_value()
        return [url.strip() for url in raw.split(",") if url.strip()]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _LowercaseToml(settings_cls, toml_file=SECRETS_TOML),
        )


class _LowercaseToml(TomlConfigSettingsSource):
    """secrets.toml uses the upper-case names of the environment; fields are lower-case."""

    def __call__(self) -> dict[str, object]:
        return {key.lower(): value for key, value in super().__call__().items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
