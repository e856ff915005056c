"""Who may see which page and do what: the one table the router and every page's own guard read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
DEMO_SIGN_IN_HINT = (
    "Demo: `make demo` printed one user per role (finance, operations, manager, admin) with a password "
    'in the terminal it runs in, under "Creating the demo users". '
    "`python -m dashboard demo-users` makes new ones."
)


class Role(StrEnum):
    FINANCE = "finance"
    OPERATIONS = "operations"
    MANAGER = "manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    icon: str
    description: str

    @property
    def path(self) -> Path:
        return PAGES_DIR / f"{self.key}.py"

    @property
    def url_path(self) -> str:
        return self.key.replace("_", "-")


PAGES: dict[str, PageSpec] = {
    spec.key: spec
    for spec in (
        PageSpec(
            "overview", "Overview", ":material/dashboard:", "Volume, success rate and money at a glance"
        ),
        PageSpec(
            "success_rates", "Success rates", ":material/trending_up:", "By mode, bank, network, app, country"
        ),
        PageSpec("failures", "Failures", ":material/error:", "Why payments fail, and where"),
        PageSpec(
            "webhook_health", "Webhook health", ":material/webhook:", "Arrivals, lag, duplicates, rejections"
        ),
        PageSpec(
            "settlements", "Settlements", ":material/account_balance:", "Gross to net, and what is pending"
        ),
        PageSpec("mismatches", "Mismatches", ":material/rule:", "Reconciliation findings and decisions"),
        PageSpec("disputes", "Disputes", ":material/gavel:", "Open disputes, deadlines, dispute rates"),
        PageSpec("payments", "Payments", ":material/search:", "Find one payment and its whole story"),
        PageSpec("sync_status", "Sync status", ":material/sync:", "Freshness, runs, quarantine"),
        PageSpec("alerts", "Alerts", ":material/notifications:", "What needs someone now, and the history"),
        PageSpec("risk", "Risk", ":material/gpp_maybe:", "Card testing, velocity, international share"),
    )
}

ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    Role.FINANCE: ("overview", "settlements", "mismatches", "disputes", "payments", "alerts", "risk"),
    Role.OPERATIONS: ("overview", "alerts", "webhook_health", "sync_status", "payments", "mismatches"),
    Role.MANAGER: ("overview", "alerts", "success_rates", "failures", "disputes", "risk"),
    Role.ADMIN: tuple(PAGES),
}


def pages_for(role: Role) -> list[PageSpec]:
    return [PAGES[key] for key in ROLE_PAGES[role]]


def can_see(role: Role, page_key: str) -> bool:
    return page_key in ROLE_PAGES[role]


def can_decide_mismatches(role: Role) -> bool:
    """Acknowledge/resolve: finance owns the money question; operations sees mismatches read-only."""
    return role in (Role.FINANCE, Role.ADMIN)


def alert_categories(role: Role) -> tuple[str, ...] | None:
    """Which alert categories a role sees on the Alerts page: finance the money ones, others all (None)."""
    return ("money",) if role is Role.FINANCE else None


def can_run_sync(role: Role) -> bool:
    return role in (Role.OPERATIONS, Role.ADMIN)


def sees_open_disputes(role: Role) -> bool:
    """The respond-by work list is finance's; managers see dispute rates (admin sees both)."""
    return role in (Role.FINANCE, Role.ADMIN)


def sees_dispute_rates(role: Role) -> bool:
    return role in (Role.MANAGER, Role.ADMIN)


def sees_contact_details(role: Role) -> bool:
    """Managers work with aggregates; emails and phones are masked for them."""
    return role is not Role.MANAGER
