"""Staff open the gateway's own link (a secondary detail under the pay page they share), press "Generate
payment link" in Chromium, get the link from the gateway, and open it."""
import re

from playwright.sync_api import expect

from tests.e2e.test_staff_flow import sign_in


def test_generate_copy_and_open_a_payment_link(page, live_server, pay_app, staff, make_invoice, control):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "down"})  # watch the fallback happen
    invoice = make_invoice(currency="INR", open_it=True)
    sign_in(page, live_server, staff.email)
    page.goto(f"{live_server}/invoices/{invoice.id}")
    page.click("text=Gateway's own link")
    page.click("text=Generate payment link")
    link = page.locator("#link-url")
    expect(link).to_have_value(re.compile(re.escape(pay_app.config["STRIPE_API_BASE"]) + r"/c/pay/cs_test_\w+"))
    expect(page.locator("#payment-link")).to_contain_text("Stripe")
    expect(page.locator("#payment-link .trail")).to_contain_text("unreachable")
    url = link.input_value()
    page.click("text=Get payment link")  # a second click reuses the link
    expect(page.locator("#payment-link")).to_contain_text("reused, no new link was made")
    assert page.locator("#link-url").input_value() == url
    assert page.console_errors == []
    page.goto(url)
    expect(page.locator("body")).to_contain_text("Pay")  # the gateway's hosted checkout page
