"""Sign-in with the local users file, role-based navigation, pages that guard themselves, the users CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.roles import PAGES, ROLE_PAGES, Role
from dashboard.users import UsersFileError, add_user, load_users, verify_password
from tests.dashboard.conftest import PASSWORD, AppFactory, page_path

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
    assert [e.value for e in at.error] == ["Your role does not include this page."]
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
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        == "cannot add user: unknown role 'ceo'; choose one of finance, operations, manager, admin"
    )


def test_demo_users_prints_one_user_per_role_that_can_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    result = _cli("demo-users", "--file", str(path))
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()[1:]]
    assert {(name, role) for name, _, role in lines} == {(r.value, r.value) for r in Role}
    for name, password, _ in lines:
        assert verify_password(name, password, path=path) is not None
