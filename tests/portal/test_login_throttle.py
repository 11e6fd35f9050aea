"""Sign-in throttling that stops guessing without letting strangers lock an admin out (issue 8, item 2).

Each test client stands for one browser at one client address (REMOTE_ADDR).
"""
from portal.extensions import db
from portal.models import AuditEvent

from tests.conftest import PASSWORD, Browser

WRONG = "wrong password!!"
DEVICE_COOKIE = "hisabpro_device"


def browser_at(app, address: str) -> Browser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client)


def guess_from_many_addresses(app, email: str, failures: int, per_address: int = 5) -> None:
    for n in range(failures):
        attacker = browser_at(app, f"203.0.113.{n // per_address + 1}")
        assert attacker.login(email, WRONG).status_code in (401, 429)


def test_failures_from_elsewhere_do_not_lock_out_a_browser_that_signed_in_before(app, admin):
    own = browser_at(app, "198.51.100.7")
    assert own.login(admin.email).status_code == 302
    assert own.post("/logout", token_page="/invoices/").status_code == 302
    assert own.client.get_cookie(DEVICE_COOKIE, path="/login") is not None  # kept after sign-out

    guess_from_many_addresses(app, admin.email, 50)

    response = own.login(admin.email)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Sign out" in own.get("/invoices/").get_data(as_text=True)


def test_the_device_cookie_is_signed_http_only_and_bound_to_the_login_path(app, staff):
    own = browser_at(app, "198.51.100.7")
    response = own.login(staff.email)
    device = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    assert len(device) == 1
    assert "HttpOnly" in device[0] and "SameSite=Strict" in device[0] and "Path=/login" in device[0]
    assert "Secure" not in device[0]  # only in production, where the site is HTTPS


def test_a_forged_or_foreign_device_cookie_earns_no_trust(app, admin, staff):
    guess_from_many_addresses(app, admin.email, 5, per_address=5)  # locks 203.0.113.1 for the admin
    forged = browser_at(app, "203.0.113.1")
    forged.client.set_cookie(DEVICE_COOKIE, "eyJ1IjoxfQ.forged.signature", path="/login")
    assert forged.login(admin.email).status_code == 429

    # A genuine cookie for another account (the attacker's own) does not help against the admin.
    assert forged.login(staff.email).status_code == 302
    forged.post("/logout", token_page="/invoices/")
    assert forged.login(admin.email).status_code == 429


def test_guessing_from_one_address_is_still_locked_even_with_the_right_password(app, staff):
    attacker = browser_at(app, "203.0.113.9")
    for _ in range(5):
        assert attacker.login(staff.email, WRONG).status_code == 401
    locked = attacker.login(staff.email, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    # Another address is not affected by that address's failures.
    assert browser_at(app, "198.51.100.20").login(staff.email).status_code == 302


def test_a_device_cookie_that_fails_too_often_is_locked_and_dropped(app, staff):
    own = browser_at(app, "198.51.100.7")
    assert own.login(staff.email).status_code == 302
    own.post("/logout", token_page="/invoices/")
    for _ in range(5):
        assert own.login(staff.email, WRONG).status_code == 401
    locked = own.login(staff.email, PASSWORD)
    assert locked.status_code == 429
    assert own.client.get_cookie(DEVICE_COOKIE, path="/login") is None


def test_past_the_account_ceiling_new_browsers_are_slowed_audited_and_shown_to_admins(app, admin, staff):
    app.config["LOGIN_ACCOUNT_CEILING"] = "20 per hour"
    own = browser_at(app, "198.51.100.7")
    assert own.login(staff.email).status_code == 302
    own.post("/logout", token_page="/invoices/")

    guess_from_many_addresses(app, staff.email, 20)

    # A new browser at an untouched address: one try, then it has to wait.
    newcomer = browser_at(app, "192.0.2.50")
    assert newcomer.login(staff.email, WRONG).status_code == 401
    slowed = newcomer.login(staff.email, PASSWORD)
    assert slowed.status_code == 429
    assert "slowed down" in slowed.get_data(as_text=True)
    # The right password on the first try from an untouched address still gets in.
    assert browser_at(app, "192.0.2.51").login(staff.email).status_code == 302
    # The browser that signed in before is not slowed at all.
    assert own.login(staff.email, WRONG).status_code == 401
    assert own.login(staff.email).status_code == 302

    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "user.sign_in_ceiling")).all()
    assert len(events) == 1  # once per window, not once per attempt
    assert events[0].subject_id == staff.id and staff.email in events[0].summary

    viewer = browser_at(app, "198.51.100.99")
    assert viewer.login(admin.email).status_code == 302
    page = viewer.get("/users/").get_data(as_text=True)
    assert "At least 20 failed sign-ins in the last hour for staff@example.com" in page
    assert "Browsers that have not signed in to this account before are slowed down" in page


def test_the_ceiling_says_nothing_about_whether_an_account_exists(app, staff):
    app.config["LOGIN_ACCOUNT_CEILING"] = "10 per hour"
    answers = {}
    for email in (staff.email, "ghost@example.com"):
        guess_from_many_addresses(app, email, 10)
        newcomer = browser_at(app, "192.0.2.77")
        first = newcomer.login(email, WRONG)
        second = newcomer.login(email, WRONG)
        answers[email] = [(r.status_code, r.get_data(as_text=True).count("slowed down")) for r in (first, second)]
    assert answers[staff.email] == answers["ghost@example.com"] == [(401, 0), (429, 1)]
    ghost = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "user.sign_in_ceiling",
                                                         AuditEvent.subject_id.is_(None))).all()
    assert [e.summary.startswith("ghost@example.com") for e in ghost] == [True]


def test_an_ipv6_client_counts_as_its_whole_64(app, staff):
    for n in range(5):
        assert browser_at(app, f"2001:db8:1:2::{n + 1:x}").login(staff.email, WRONG).status_code == 401
    assert browser_at(app, "2001:db8:1:2:ffff::99").login(staff.email).status_code == 429
    assert browser_at(app, "2001:db8:1:3::1").login(staff.email).status_code == 302


def test_the_per_address_limit_still_holds_for_every_account(app):
    app.config["LOGIN_IP_LIMIT"] = "3 per 15 minutes"
    sprayer = browser_at(app, "203.0.113.66")
    codes = [sprayer.login(f"user{i}@example.com", WRONG).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
