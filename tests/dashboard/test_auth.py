"""Sign-in with the local users file, role-based navigation, pages that guard themselves, the users CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.auth import NOT_FOR_ROLE, role_for_identity
from dashboard.roles import PAGES, ROLE_PAGES, Role
from dashboard.users import UserRecord, UsersFileError, add_user, load_users, verify_password
from data.models import AuditLog
from tests.dashboard.conftest import APP, PASSWORD, AppFactory, Seeded, page_path

ROOT = Path(__file__).resolve().parents[2]


def test_sign_in_with_password_opens_the_roles_first_page(app_for: AppFactory) -> None:
    at = app_for(None)
    assert [t.value for t in at.title] == ["payops"]
    at.text_input(key="sign_in_name").input("finance")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert any("finance" in c.value for c in at.sidebar.caption)


def test_wrong_password_is_refused(app_for: AppFactory) -> None:
    at = app_for(None)
    at.text_input(key="sign_in_name").input("finance")
    at.text_input(key="sign_in_password").input("not the password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Name or password is not right."]
    assert [t.value for t in at.title] == ["payops"]


def test_pages_are_unreachable_before_sign_in(app_for: AppFactory) -> None:
    at = app_for(None)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path("settlements"))


@pytest.mark.parametrize("role", list(Role))
def test_forbidden_pages_are_not_registered_for_the_role(app_for: AppFactory, role: Role) -> None:
    at = app_for(role)
    for page in PAGES:
        if page in ROLE_PAGES[role]:
            at.switch_page(page_path(page))  # registered: no error
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page_path(page))


@pytest.mark.parametrize("page", ["settlements", "sync_status", "success_rates"])
def test_a_page_run_directly_guards_itself(app_for: AppFactory, page: str) -> None:
    # Even if a page script were reached some other way, its first line stops a role that may not see it.
    app_for(None)  # points the app at the seeded database and users file
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60)
    at.session_state["payops_user"] = _user(Role.MANAGER if page != "success_rates" else Role.FINANCE)
    at.run()
    assert [e.value for e in at.error] == [
        NOT_FOR_ROLE.format(role=at.session_state["payops_user"].role.value)
    ]
    assert not at.metric
    anonymous = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
    assert [w.value for w in anonymous.warning] == ["Please sign in first."]


def _user(role: Role) -> object:
    from dashboard.auth import SignedInUser

    return SignedInUser(name="intruder", role=role, method="password")


def test_users_file_holds_bcrypt_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user("ravi", "finance", "s3cret-password", path=path, rounds=4)
    text = path.read_text()
    assert "s3cret-password" not in text
    assert "$2b$04$" in text
    assert load_users(path)["ravi"].role is Role.FINANCE
    assert verify_password("ravi", "s3cret-password", path=path) is not None
    assert verify_password("ravi", "wrong-password", path=path) is None
    assert verify_password("nobody", "s3cret-password", path=path) is None
    with pytest.raises(UsersFileError, match="unknown role"):
        add_user("ravi", "cfo", "s3cret-password", path=path)
    with pytest.raises(UsersFileError, match="at least 8"):
        add_user("ravi", "finance", "short", path=path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_adds_lists_and_rejects_bad_input(tmp_path: Path) -> None:
    path = str(tmp_path / "users.toml")
    added = _cli(
        "users", "add", "meera", "--role", "operations", "--password", "long-enough-pw", "--file", path
    )
    assert added.returncode == 0, added.stderr
    oidc = _cli("users", "add", "cfo@example.com", "--role", "manager", "--oidc", "--file", path)
    assert oidc.returncode == 0, oidc.stderr
    listed = _cli("users", "list", "--file", path)
    assert listed.stdout.splitlines() == ["cfo@example.com\tmanager\toidc", "meera\toperations\tpassword"]
    bad = _cli("users", "add", "x", "--role", "ceo", "--password", "long-enough-pw", "--file", path)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "cannot add user: unknown role 'ceo'; choose one of finance, operations, manager, admin"
    )


@pytest.mark.slow
def test_demo_users_prints_one_user_per_role_that_can_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    result = _cli("demo-users", "--file", str(path))
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()[1:]]
    assert {(name, role) for name, _, role in lines} == {(r.value, r.value) for r in Role}
    for name, password, _ in lines:
        assert verify_password(name, password, path=path) is not None


# --- signing in through an identity provider (OIDC, `st.login`) ------------------------------------

AUTH_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-not-a-real-one",
    "client_id": "payops-test",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
}
CFO = "cfo@example.com"
SIGN_IN_WITH_PROVIDER = "Sign in with your company account"
OidcApp = Callable[[dict[str, Any]], AppTest]


@pytest.fixture
def oidc_app(app_for: AppFactory, users_file: Path) -> OidcApp:
    """oidc_app(st_user) → the app run with an `[auth]` section in its secrets, the identity provider
    reporting `st_user`; the users file maps CFO to the manager role (an OIDC entry, no password)."""
    app_for(None)  # points the app at the seeded database and the users file
    add_user(CFO, Role.MANAGER, None, path=users_file)

    def make(st_user: dict[str, Any]) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.secrets["auth"] = dict(AUTH_SECRETS)
        at.user = st_user
        return at.run()

    return make


def _sign_ins(seeded: Seeded, actor: str) -> list[Any]:
    with seeded.engine.connect() as conn:
        rows = conn.execute(select(AuditLog).where(AuditLog.action == "sign_in", AuditLog.actor == actor))
        return list(rows.all())


@pytest.mark.parametrize(
    "st_user", [{"is_logged_in": False}, {"email": CFO}], ids=["logged-out", "email-without-sign-in"]
)
def test_oidc_visitor_sees_only_the_provider_button(oidc_app: OidcApp, st_user: dict[str, Any]) -> None:
    at = oidc_app(st_user)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["payops"]
    assert [b.label for b in at.button] == [SIGN_IN_WITH_PROVIDER]
    assert not at.text_input  # no password form when an identity provider is configured
    assert not at.metric and not at.dataframe and not at.sidebar.caption
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path("overview"))


def test_oidc_user_gets_the_pages_of_their_role(oidc_app: OidcApp, seeded: Seeded) -> None:
    before = len(_sign_ins(seeded, CFO))
    at = oidc_app({"is_logged_in": True, "email": "CFO@Example.com", "email_verified": True, "name": "CFO"})
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Overview"]
    assert "Signed in as **CFO@Example.com** · manager" in [c.value for c in at.sidebar.caption]
    for page in PAGES:
        if page in ROLE_PAGES[Role.MANAGER]:
            at.switch_page(page_path(page))
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page_path(page))
    at.switch_page(page_path("success_rates")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Success rates"]
    # One audited sign-in per session, not one per rerun.
    assert len(_sign_ins(seeded, "CFO@Example.com")) == 1
    assert len(_sign_ins(seeded, CFO)) == before


def test_oidc_session_ends_with_the_providers(oidc_app: OidcApp) -> None:
    at = oidc_app({"is_logged_in": True, "email": CFO})
    assert [t.value for t in at.title] == ["Overview"]
    at.user = {"is_logged_in": False}
    at.run()
    assert [t.value for t in at.title] == ["payops"]
    assert [b.label for b in at.button] == [SIGN_IN_WITH_PROVIDER]


@pytest.mark.parametrize(
    ("st_user", "message"),
    [
        (
            {"is_logged_in": True, "email": "stranger@example.com"},
            "stranger@example.com is signed in but has no payops role. Ask an admin to run "
            "`python -m dashboard users add EMAIL --role ROLE --oidc`.",
        ),
        (
            {"is_logged_in": True, "email": CFO, "email_verified": False},
            f"{CFO} is not verified by the identity provider, so it cannot sign in.",
        ),
    ],
    ids=["no-role", "unverified-email"],
)
def test_oidc_user_without_a_role_gets_no_pages(
    oidc_app: OidcApp, st_user: dict[str, Any], message: str
) -> None:
    at = oidc_app(st_user)
    assert [e.value for e in at.error] == [message]
    assert [t.value for t in at.title] == ["payops"]
    assert [b.label for b in at.button] == ["Sign out"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path("overview"))


def test_role_for_identity_maps_the_email_claim() -> None:
    users = {
        "cfo@example.com": UserRecord("cfo@example.com", Role.MANAGER, None),
        "Ops@Example.com": UserRecord("Ops@Example.com", Role.OPERATIONS, None),
        "dup@example.com": UserRecord("dup@example.com", Role.FINANCE, None),
        "DUP@example.com": UserRecord("DUP@example.com", Role.ADMIN, None),
        "finance": UserRecord("finance", Role.FINANCE, "$2b$04$hash"),
    }

    def role(**claims: Any) -> Role | None:
        record = role_for_identity(claims, users)
        return None if record is None else record.role

    assert role(email="cfo@example.com", email_verified=True) is Role.MANAGER
    assert role(email="cfo@example.com") is Role.MANAGER  # providers without the claim
    assert role(email="ops@example.com") is Role.OPERATIONS
    assert role(email="DUP@example.com") is Role.ADMIN  # an exact match wins
    assert role(email="Dup@Example.com") is None  # two entries differ only in case: ambiguous
    assert role(email="cfo@example.com", email_verified=False) is None
    assert role(email="") is None
    assert role(name="finance") is None  # only the email claim maps to a role
