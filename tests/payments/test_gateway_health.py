"""Gateway health in words, driven by real calls to the sandbox with faults injected: the Gateways page, Home,
GET /api/v1/gateways and `payments check` say the same sentence (portal/payments/health.py)."""
import re
import time
from zoneinfo import ZoneInfo

import pytest

from portal.extensions import db
from portal.models import GatewayAttempt, WebhookDelivery, utcnow
from portal.payments import engine

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]
SENTENCE = re.compile(r'<p class="gw gw-[a-z_]+" data-state="([a-z_]+)" id="gw-([a-z]+)-sentence">([^<]+)</p>')


def page_sentences(browser) -> dict[str, tuple[str, str]]:
    """name -> (state, sentence) as the Gateways page's live partial shows them."""
    html = browser.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    return {name: (state, text) for state, name, text in SENTENCE.findall(html)}


def api_sentences(api) -> dict[str, tuple[str, str]]:
    return {g["name"]: (g["state"], g["sentence"]) for g in api.get("/gateways").get_json()}


def home_sentences(browser) -> list[str]:
    html = browser.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)
    return re.findall(r'<li class="gw gw-[a-z_]+">([^<]+)</li>', html)


def check_sentences(runner) -> dict[str, str]:
    """`payments check`: a configured gateway's sentence follows `now:` on the line after its checks."""
    output = runner.invoke(args=["payments", "check"]).output
    lines = output.splitlines()
    found = {}
    for index, line in enumerate(lines):
        name = line.split(" ", 1)[0]
        if name in ("Razorpay", "Stripe", "PayPal"):
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            found[name] = following[len("now: "):] if following.startswith("now: ") else line[len(name):].strip()
    return found


def everywhere_agrees(browser, api, runner=None) -> dict[str, tuple[str, str]]:
    shown = page_sentences(browser)
    assert api_sentences(api) == shown
    assert home_sentences(browser) == [f"{display}: {shown[name][1]}" for name, display in
                                       (("razorpay", "Razorpay"), ("stripe", "Stripe"), ("paypal", "PayPal"))]
    if runner is not None:
        said = check_sentences(runner)
        for name, display in (("razorpay", "Razorpay"), ("stripe", "Stripe"), ("paypal", "PayPal")):
            # An unconfigured gateway's line may add, in brackets, what is malformed about what is set.
            assert said[display] == shown[name][1] or said[display].startswith(shown[name][1] + " ("), said
    return shown


def test_configured_gateways_are_working_in_every_place_that_says_so(pay_app, signed_in_staff, api, runner):
    shown = everywhere_agrees(signed_in_staff, api, runner)
    assert shown == {name: ("working", "Working") for name in ("razorpay", "stripe", "paypal")}


def test_not_configured_names_exactly_the_missing_variables(app, signed_in_staff, api, runner):
    app.config.update({"RAZORPAY_KEY_ID": "rzp_test_abc", "STRIPE_SECRET_KEY": "", "PAYPAL_CLIENT_ID": None})
    shown = everywhere_agrees(signed_in_staff, api, runner)
    assert "Razorpay  Not configured: set RAZORPAY_KEY_SECRET (RAZORPAY_KEY_ID is set but RAZORPAY_KEY_SECRET is not)" \
        in runner.invoke(args=["payments", "check"]).output
    assert shown == {
        "razorpay": ("not_configured", "Not configured: set RAZORPAY_KEY_SECRET"),
        "stripe": ("not_configured", "Not configured: set STRIPE_SECRET_KEY"),
        "paypal": ("not_configured", "Not configured: set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET"),
    }


def test_a_slow_gateway_reads_slow_with_how_long_it_answers_in(pay_app, signed_in_staff, api, runner, control,
                                                               make_invoice):
    pay_app.config["GATEWAY_SLOW_MS"] = 300
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "slow", "latency_ms": 400})
    for _ in range(3):  # the Slow rule needs three successful calls at least
        assert engine.generate_link(make_invoice(currency="INR", open_it=True)).link.gateway == "razorpay"
    shown = everywhere_agrees(signed_in_staff, api, runner)
    state, sentence = shown["razorpay"]
    assert state == "slow" and re.fullmatch(r"Slow: answers in 0\.[4-9] s", sentence), sentence
    assert shown["stripe"] == ("working", "Working")


def test_down_says_since_when_how_many_calls_failed_and_where_inr_goes_then_recovering_then_working(
        pay_app, signed_in_staff, api, runner, control, make_invoice):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})
    for _ in range(5):  # one refused call per click: five open the breaker; Stripe takes each payment
        assert engine.generate_link(make_invoice(currency="INR", open_it=True)).link.gateway == "stripe"
    first = db.session.scalars(db.select(GatewayAttempt).where(GatewayAttempt.gateway == "razorpay")
                               .order_by(GatewayAttempt.id).limit(1)).one()
    local = first.created_at.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M")  # the merchant's zone
    shown = everywhere_agrees(signed_in_staff, api, runner)
    assert shown["razorpay"] == ("down", f"Down since {local} (5 failed calls); INR payments go through Stripe")
    details = signed_in_staff.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    razorpay = details[details.index('id="gw-razorpay"'):details.index('id="gw-stripe"')]
    assert "open: no calls go to it; it tries one again at" in razorpay
    assert "could not be reached" in razorpay            # the last error, in words
    assert "5 calls, 0 % succeeded" in razorpay

    engine.breaker().cooldown = 0.2  # the cool-down ends: one probe may go through
    time.sleep(0.3)
    shown = everywhere_agrees(signed_in_staff, api)
    assert shown["razorpay"] == ("recovering", "Recovering: the next payment tests it")

    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok"})
    assert engine.generate_link(make_invoice(currency="INR", open_it=True)).link.gateway == "razorpay"
    assert everywhere_agrees(signed_in_staff, api, runner)["razorpay"] == ("working", "Working")


def test_when_nothing_can_take_the_payments_it_says_so(pay_app, signed_in_admin, api):
    for name in ("razorpay", "stripe"):
        signed_in_admin.post(f"/gateways/{name}/breaker", {"state": "open"}, token_page="/gateways/")
    shown = everywhere_agrees(signed_in_admin, api)
    assert re.fullmatch(r"Down since \d\d:\d\d \(held down by an admin\); nothing can take INR payments",
                        shown["razorpay"][1]), shown


def test_switched_off_by_an_admin(pay_app, signed_in_admin, api, runner):
    assert signed_in_admin.post("/gateways/paypal/enabled", {"enabled": "0"}, token_page="/gateways/").status_code == 303
    shown = everywhere_agrees(signed_in_admin, api, runner)
    assert shown["paypal"] == ("off", "Switched off by an admin")  # Stripe comes first wherever PayPal is listed
    signed_in_admin.post("/gateways/stripe/enabled", {"enabled": "0"}, token_page="/gateways/")
    shown = everywhere_agrees(signed_in_admin, api)
    assert shown["stripe"] == ("off", "Switched off by an admin; payments in USD and other currencies go through Razorpay")


def test_details_show_open_links_and_the_lag_from_payment_to_its_webhook(pay_app, signed_in_staff, make_invoice):
    from datetime import timedelta

    from portal.models import Payment

    invoice = make_invoice(currency="INR", open_it=True)
    link = engine.generate_link(invoice).link
    html = signed_in_staff.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    razorpay = html[html.index('id="gw-razorpay"'):html.index('id="gw-stripe"')]
    assert re.search(r"<dt>Open links</dt>\s*<dd>1</dd>", razorpay)
    assert "no payment yet" in razorpay
    # The customer came back through the return page first; the verified webhook came 7 s later.
    paid_at = utcnow()
    db.session.add(Payment(invoice_id=invoice.id, payment_link_id=link.id, gateway="razorpay", payment_id="pay_lag1",
                           currency="INR", amount_minor=invoice.total_minor, source="return", received_at=paid_at))
    db.session.add(WebhookDelivery(gateway="razorpay", event_id="evt_lag1", event_type="payment_link.paid",
                                   body=b"{}", verified=True, outcome="duplicate", invoice_id=invoice.id,
                                   received_at=paid_at + timedelta(seconds=7)))
    db.session.commit()
    html = signed_in_staff.get("/gateways/", headers={"HX-Request": "true"}).get_data(as_text=True)
    razorpay = html[html.index('id="gw-razorpay"'):html.index('id="gw-stripe"')]
    assert "was recorded from the return page; its webhook came 7 s later" in razorpay


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_the_test_mode_banner_shows_on_staff_pages_while_a_gateway_uses_test_keys(pay_app, browser, make_user, role):
    user = make_user(f"{role}-banner@example.com", role)
    browser.login(user.email)
    for path in ("/", "/invoices/", "/customers/", "/gateways/"):  # the Gateways page last: it says why
        html = browser.get(path).get_data(as_text=True)
        assert 'id="test-mode-banner"' in html, path
    banner = re.search(r'<p class="test-banner" id="test-mode-banner">(.*?)</p>', html, re.S).group(1)
    words = " ".join(re.sub(r"<[^>]+>", "", banner).split())
    assert words == ("Test mode: Razorpay, Stripe and PayPal use test keys or a test server, "
                     "so payments through them are not real money.")
    # Why, per gateway, is under each gateway's details.
    assert "test: uses a test key (rzp_test_...); no real money moves" in html
    assert "test: uses a test key (sk_test_...); no real money moves" in html
    assert "test: talks to a test server on this machine" in html


def test_no_banner_without_test_keys(app, signed_in_staff):
    assert 'id="test-mode-banner"' not in signed_in_staff.get("/").get_data(as_text=True)  # nothing configured
    app.config.update({"STRIPE_SECRET_KEY": "sk_live_abc123", "STRIPE_API_BASE": None})  # live Stripe alone
    assert 'id="test-mode-banner"' not in signed_in_staff.get("/invoices/").get_data(as_text=True)
    app.config.update({"PAYPAL_CLIENT_ID": "AAA", "PAYPAL_CLIENT_SECRET": "BBB"})  # PayPal's sandbox by default
    html = signed_in_staff.get("/invoices/").get_data(as_text=True)
    banner = " ".join(re.sub(r"<[^>]+>", "", re.search(r'id="test-mode-banner">(.*?)</p>', html, re.S).group(1)).split())
    assert banner == "Test mode: PayPal uses test keys or a test server, so payments through it are not real money. Why test mode is on"
    assert "uses PayPal&#39;s sandbox" in signed_in_staff.get("/gateways/").get_data(as_text=True)


def test_the_pay_page_marks_a_test_payment_and_a_live_one_is_not_marked(app, client, make_invoice, gateway_config):
    app.config.update({"STRIPE_SECRET_KEY": "sk_live_abc123", "STRIPE_API_BASE": None})
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert "Pay" in html and 'id="test-payment"' not in html
    app.config.update({k: v for k, v in gateway_config.items() if k.startswith(("STRIPE_", "PAYPAL_", "RAZORPAY_"))})
    html = client.get(f"/pay/{invoice.pay_token}").get_data(as_text=True)
    assert 'id="test-payment"' in html and "Test payment" in html
    # Staff banners are for staff: the customer's page carries only the discreet mark.
    assert "test-mode-banner" not in html
