"""A customer on a phone opens the Pay Now page, pays on the gateway's hosted page, and comes back to a paid
invoice: once per gateway, in Chromium, with the sandbox's signed webhooks going to the live portal."""
import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Invoice

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]
LABELS = {"razorpay": "Pay with UPI, cards and netbanking (Razorpay)", "stripe": "Pay with Card (Stripe)",
          "paypal": "Pay with PayPal"}


@pytest.mark.parametrize("gateway", ["razorpay", "stripe", "paypal"])
def test_customer_pays_through_the_hosted_page(page, live_server, pay_app, sandbox, make_invoice, gateway):
    for name in ("razorpay", "stripe", "paypal"):
        sandbox.set_webhook_target(name, f"{live_server}/webhooks/{name}")
    currency = "INR" if gateway == "razorpay" else "USD"
    invoice = make_invoice(currency=currency, items=None if currency == "INR" else USD, open_it=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/pay/{invoice.pay_token}")
    expect(page.locator("h1")).to_contain_text(invoice.number)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click(f"text={LABELS[gateway]}")
    page.wait_for_url(lambda url: not url.startswith(live_server))  # on the gateway's own page now
    page.click("#pay")
    page.wait_for_url(f"{live_server}/pay/{invoice.pay_token}**")
    expect(page.locator("#pay-status")).to_contain_text("paid in full", timeout=10_000)
    expect(page.locator("button.pay-button")).to_have_count(0)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and len(invoice.payments) == 1
