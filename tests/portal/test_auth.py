"""Signing in and out, throttling, safe redirects."""
from portal.models import AuditEvent

from tests.conftest import PASSWORD


def test_sign_in_success_lands_on_home_and_is_recorded(browser, staff):
    response = browser.login(staff.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = browser.get("/invoices/").get_data(as_text=True)
    assert "staff@example.com" in page and "Sign out" in page
    assert any(e.action == "user.sign_in" for e in AuditEvent.query.all())


def test_email_is_case_insensitive(browser, staff):
    assert browser.login("  STAFF@Example.com ").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(browser, staff):
    wrong = browser.login(staff.email, "not the password at all")
    unknown = browser.login("nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an active account."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert browser.get("/invoices/").status_code == 302  # still signed out


def test_pages_need_sign_in_and_come_back_after(browser, staff):
    response = browser.get("/invoices/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    after = browser.login(staff.email, next_url="/invoices/new")
    assert after.headers["Location"] == "/invoices/new"


def test_next_pointing_off_site_is_ignored(browser, staff):
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = browser.login(staff.email, next_url=evil)
        assert response.headers["Location"] == "/", evil
        assert browser.post("/logout", token_page="/invoices/").status_code == 302


def test_account_locks_after_five_failures_even_with_the_right_password(browser, staff):
    for _ in range(5):
        assert browser.login(staff.email, "wrong password!!").status_code == 401
    locked = browser.login(staff.email, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert browser.get("/invoices/").status_code == 302


def test_lock_for_unknown_address_looks_the_same(browser):
    for _ in range(5):
        browser.login("ghost@example.com", "wrong password!!")
    assert browser.login("ghost@example.com", "wrong password!!").status_code == 429


def test_success_resets_the_failure_count(browser, staff):
    for _ in range(4):
        browser.login(staff.email, "wrong password!!")
    assert browser.login(staff.email).status_code == 302
    browser.post("/logout", token_page="/invoices/")
    for _ in range(4):
        assert browser.login(staff.email, "wrong password!!").status_code == 401
    assert browser.login(staff.email).status_code == 302


def test_per_address_limit_stops_spraying_many_accounts(app, browser):
    app.config["LOGIN_IP_LIMIT"] = "3 per 15 minutes"
    codes = [browser.login(f"user{i}@example.com", "wrong password!!").status_code for i in range(4)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429


def test_deactivated_user_cannot_sign_in_and_loses_session(app, browser, staff):
    assert browser.login(staff.email).status_code == 302
    staff.active = False
    from portal.extensions import db
    db.session.commit()
    assert browser.get("/invoices/").status_code == 302
    assert browser.login(staff.email).status_code == 401


def test_sign_out_ends_the_session(signed_in_staff):
    response = signed_in_staff.post("/logout", token_page="/invoices/")
    assert response.status_code == 302
    assert signed_in_staff.get("/invoices/").status_code == 302


def test_passwords_are_stored_with_scrypt(staff, tmp_path):
    assert staff.password_hash.startswith("scrypt:")
    assert PASSWORD not in staff.password_hash
    # Outside the tests' cheaper setting, the portal hashes at Werkzeug's full cost (n=2**15, r=8, p=1).
    from portal import create_app
    from portal.models import User

    with create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"}).app_context():
        user = User(email="x@example.com")
        user.set_password(PASSWORD)
        assert user.password_hash.startswith("scrypt:32768:8:1$") and user.check_password(PASSWORD)


def test_session_cookie_flags(browser, staff):
    response = browser.login(staff.email)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
