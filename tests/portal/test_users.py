"""Admins manage users; staff cannot."""
import re

from portal.extensions import db
from portal.models import User

from tests.conftest import PASSWORD


def test_staff_cannot_see_or_use_user_management(signed_in_staff, admin):
    assert signed_in_staff.get("/users/").status_code == 403
    assert signed_in_staff.get("/users/new").status_code == 403
    response = signed_in_staff.post("/users/new", {"email": "new@example.com", "role": "admin"})
    assert response.status_code == 403
    response = signed_in_staff.post(f"/users/{admin.id}/deactivate")
    assert response.status_code == 403
    assert db.session.scalar(db.select(User).where(User.email == "new@example.com")) is None
    assert db.session.get(User, admin.id).active
    assert "Users</a>" not in signed_in_staff.get("/invoices/").get_data(as_text=True)


def test_admin_creates_a_user_who_can_sign_in_with_the_shown_password(signed_in_admin, client):
    response = signed_in_admin.post("/users/new", {"email": "New.Person@Example.com", "name": "New Person",
                                                   "role": "staff"}, token_page="/users/new")
    assert response.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    user = db.session.scalar(db.select(User).where(User.email == "new.person@example.com"))
    assert user.role == "staff" and user.check_password(password)
    signed_in_admin.post("/logout", token_page="/invoices/")
    assert signed_in_admin.login("new.person@example.com", password).status_code == 302


def test_duplicate_email_is_refused(signed_in_admin, staff):
    response = signed_in_admin.post("/users/new", {"email": staff.email, "role": "admin"}, token_page="/users/new")
    assert response.status_code == 422
    assert "already an account" in response.get_data(as_text=True)
    assert db.session.get(User, staff.id).role == "staff"


def test_admin_changes_role_and_deactivates(signed_in_admin, staff):
    assert signed_in_admin.post(f"/users/{staff.id}/role", {"role": "admin"}, token_page="/users/").status_code == 303
    assert db.session.get(User, staff.id).role == "admin"
    assert signed_in_admin.post(f"/users/{staff.id}/deactivate", token_page="/users/").status_code == 303
    assert not db.session.get(User, staff.id).active


def test_admin_cannot_lock_themselves_out(signed_in_admin, admin):
    refused = signed_in_admin.post(f"/users/{admin.id}/deactivate", token_page="/users/", follow_redirects=True)
    assert "cannot deactivate your own account" in refused.get_data(as_text=True)
    demoted = signed_in_admin.post(f"/users/{admin.id}/role", {"role": "staff"}, token_page="/users/",
                                   follow_redirects=True)
    assert "last active administrator" in demoted.get_data(as_text=True)
    admin = db.session.get(User, admin.id)
    assert admin.active and admin.role == "admin"


def test_reset_password_replaces_the_old_one(signed_in_admin, staff, browser):
    response = signed_in_admin.post(f"/users/{staff.id}/reset-password", token_page="/users/")
    new_password = re.search(r'id="new-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    staff = db.session.get(User, staff.id)
    assert staff.check_password(new_password) and not staff.check_password(PASSWORD)


def test_cli_creates_users_with_a_generated_password(runner):
    result = runner.invoke(args=["users", "create", "ops@example.com", "--role", "admin"])
    assert result.exit_code == 0, result.output
    password = re.search(r"Password: (\S+)", result.output).group(1)
    user = db.session.scalar(db.select(User).where(User.email == "ops@example.com"))
    assert user.role == "admin" and user.check_password(password) and len(password) >= 16


def test_cli_takes_a_password_from_stdin_and_rejects_short_ones(runner):
    ok = runner.invoke(args=["users", "create", "piped@example.com", "--role", "staff", "--password-stdin"],
                       input="a long enough passphrase\n")
    assert ok.exit_code == 0 and "Password:" not in ok.output
    short = runner.invoke(args=["users", "create", "short@example.com", "--role", "staff", "--password-stdin"],
                          input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    assert db.session.scalar(db.select(User).where(User.email == "short@example.com")) is None
    dup = runner.invoke(args=["users", "create", "piped@example.com", "--role", "staff"])
    assert dup.exit_code != 0 and "already an account" in dup.output


def test_demo_seed_prints_a_working_login_every_run(app, runner, browser):
    first = runner.invoke(args=["demo", "seed"])
    second = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == second.exit_code == 0
    assert "Created the demo admin" in first.output and "Created" not in second.output
    email, password = re.search(r"as (\S+) / (\S+)", second.output).groups()
    assert browser.login(email, password).status_code == 302
