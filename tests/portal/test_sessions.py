"""Ending sessions: sign-out, password change or reset, role change and deactivation (issue 8, item 3).

A stolen session or remember-me cookie must stop working once any of these happens.
"""
import pytest

from portal.extensions import db
from portal.models import AuditEvent, User

from tests.conftest import PASSWORD, Browser

REMEMBER_COOKIE = "remember_token"
NEW_PASSWORD = "a brand new passphrase"


def new_browser(app) -> Browser:
    return Browser(app.test_client())


def sign_in_remembered(browser: Browser, email: str) -> None:
    response = browser.client.post("/login", data={"email": email, "password": PASSWORD, "remember": "y",
                                                   "csrf_token": browser.token()})
    assert response.status_code == 302
    assert browser.client.get_cookie(REMEMBER_COOKIE) is not None


def cookies_of(browser: Browser) -> dict:
    return {name: browser.client.get_cookie(name).value for name in ("session", REMEMBER_COOKIE)
            if browser.client.get_cookie(name) is not None}


def replay(app, cookies: dict) -> int:
    """A fresh client carrying only the given cookies asks for the invoice list."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief.get("/invoices/").status_code


def signed_in(browser: Browser) -> bool:
    return browser.get("/invoices/").status_code == 200


def audit_actions() -> list[str]:
    return list(db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_session_cookie_replayed_after_sign_out_is_refused(app, staff):
    browser = new_browser(app)
    assert browser.login(staff.email).status_code == 302
    stolen = cookies_of(browser)
    assert replay(app, stolen) == 200

    assert browser.post("/logout", token_page="/invoices/").status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", stolen["session"])
    response = thief.get("/invoices/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "user.sign_out" in audit_actions()


def test_sign_out_also_clears_the_remember_cookie(app, staff):
    browser = new_browser(app)
    sign_in_remembered(browser, staff.email)
    stolen = cookies_of(browser)
    browser.post("/logout", token_page="/invoices/")
    assert browser.client.get_cookie(REMEMBER_COOKIE) is None
    assert replay(app, {REMEMBER_COOKIE: stolen[REMEMBER_COOKIE]}) == 302


def admin_browser(app, admin) -> Browser:
    browser = new_browser(app)
    assert browser.login(admin.email).status_code == 302
    return browser


@pytest.mark.parametrize("action, data", [
    ("reset-password", {}),
    ("role", {"role": "admin"}),
    ("deactivate", {}),
    ("sign-out-everywhere", {}),
])
def test_an_admin_action_ends_the_users_sessions_and_remember_cookie(app, admin, staff, action, data):
    victim = new_browser(app)
    sign_in_remembered(victim, staff.email)
    stolen = cookies_of(victim)
    assert replay(app, {REMEMBER_COOKIE: stolen[REMEMBER_COOKIE]}) == 200

    response = admin_browser(app, admin).post(f"/users/{staff.id}/{action}", data, token_page="/users/")
    assert response.status_code in (200, 303)

    assert not signed_in(victim)
    assert replay(app, {"session": stolen["session"]}) == 302
    assert replay(app, {REMEMBER_COOKIE: stolen[REMEMBER_COOKIE]}) == 302


def test_admins_own_session_survives_ending_someone_elses(app, admin, staff):
    browser = admin_browser(app, admin)
    browser.post(f"/users/{staff.id}/sign-out-everywhere", token_page="/users/")
    assert signed_in(browser)
    assert "user.sessions_ended" in audit_actions()


def test_sign_out_everywhere_ends_another_browsers_session(app, staff):
    laptop, phone = new_browser(app), new_browser(app)
    assert laptop.login(staff.email).status_code == 302
    sign_in_remembered(phone, staff.email)
    phone_cookies = cookies_of(phone)

    page = laptop.get("/account").get_data(as_text=True)
    assert "Sign out everywhere" in page
    response = laptop.post("/account/sign-out-everywhere", token_page="/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")

    assert not signed_in(laptop) and not signed_in(phone)
    assert replay(app, {REMEMBER_COOKIE: phone_cookies[REMEMBER_COOKIE]}) == 302
    assert "user.signed_out_everywhere" in audit_actions()


def test_changing_ones_password_ends_the_other_sessions_but_keeps_this_one(app, staff):
    laptop, phone = new_browser(app), new_browser(app)
    assert laptop.login(staff.email).status_code == 302
    sign_in_remembered(phone, staff.email)
    phone_cookies = cookies_of(phone)

    response = laptop.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                 "confirm_password": NEW_PASSWORD}, token_page="/account")
    assert response.status_code == 303
    assert signed_in(laptop)
    assert not signed_in(phone)
    assert replay(app, {REMEMBER_COOKIE: phone_cookies[REMEMBER_COOKIE]}) == 302
    assert db.session.get(User, staff.id).check_password(NEW_PASSWORD)
    assert "user.password_changed" in audit_actions()
    assert new_browser(app).login(staff.email, NEW_PASSWORD).status_code == 302


def test_changing_ones_password_needs_the_current_one(app, staff):
    laptop, phone = new_browser(app), new_browser(app)
    assert laptop.login(staff.email).status_code == 302
    assert phone.login(staff.email).status_code == 302
    response = laptop.post("/account/password", {"current_password": "not my password",
                                                 "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
                           token_page="/account")
    assert response.status_code == 422
    assert "current password is not right" in response.get_data(as_text=True)
    short = laptop.post("/account/password", {"current_password": PASSWORD, "new_password": "short",
                                              "confirm_password": "short"}, token_page="/account")
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    mismatch = laptop.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                 "confirm_password": NEW_PASSWORD + "x"}, token_page="/account")
    assert mismatch.status_code == 422
    assert db.session.get(User, staff.id).check_password(PASSWORD)
    assert signed_in(laptop) and signed_in(phone)


def test_account_forms_need_the_csrf_token(app, staff):
    browser = new_browser(app)
    assert browser.login(staff.email).status_code == 302
    for path, data in (("/account/sign-out-everywhere", {}),
                       ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                              "confirm_password": NEW_PASSWORD})):
        assert browser.client.post(path, data=data).status_code == 400
    assert signed_in(browser)
    assert db.session.get(User, staff.id).check_password(PASSWORD)


def test_staff_cannot_end_someone_elses_sessions(app, admin, staff):
    admin_side = admin_browser(app, admin)
    staff_side = new_browser(app)
    assert staff_side.login(staff.email).status_code == 302
    assert staff_side.post(f"/users/{admin.id}/sign-out-everywhere", token_page="/invoices/").status_code == 403
    assert signed_in(admin_side)


def test_guessing_the_current_password_on_the_account_page_is_throttled(app, staff):
    thief = new_browser(app)
    assert thief.login(staff.email).status_code == 302  # say, a stolen session
    guess = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    for n in range(5):
        response = thief.post("/account/password", {"current_password": f"guess number {n}", **guess},
                              token_page="/account")
        assert response.status_code == 422
    locked = thief.post("/account/password", {"current_password": PASSWORD, **guess}, token_page="/account")
    assert locked.status_code == 429 and "Too many failed" in locked.get_data(as_text=True)
    assert db.session.get(User, staff.id).check_password(PASSWORD)


def test_an_admin_resetting_their_own_password_stays_signed_in_here_only(app, admin, make_user):
    make_user("second.admin@example.com", "admin")
    here, elsewhere = admin_browser(app, admin), admin_browser(app, admin)
    assert here.post(f"/users/{admin.id}/reset-password", token_page="/users/").status_code == 200
    assert signed_in(here) and not signed_in(elsewhere)
    assert here.post(f"/users/{admin.id}/role", {"role": "staff"}, token_page="/users/").status_code == 303
    assert signed_in(here)
    assert db.session.get(User, admin.id).role == "staff"
