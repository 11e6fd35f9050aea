"""Staff leave an invoice page open; the customer pays on their phone; the staff page catches up without a
reload (issue 9), at desktop and phone sizes, in Chromium against the sandbox."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_staff_flow import sign_in

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def fact(page, name):
    return page.locator(f"dl.facts dt:text-is('{name}') + dd")


def shows_paid_without_a_reload(page, invoice, amount: str) -> None:
    """The staff page, left open (window.__samePage set before the customer paid), catches up by itself:
    Paid badge, the amount paid, nothing due, one payment row."""
    expect(page.locator(f"#invoice-status-{invoice.id}")).to_have_text("Paid", timeout=8_000)
    expect(fact(page, "Paid")).to_have_text(amount)
    expect(fact(page, "Due")).to_have_text("₹0.00")
    payments = page.locator("section:has(h2:text-is('Payments')) tbody tr")
    expect(payments).to_have_count(1)
    expect(payments).to_contain_text(re.compile(r"pay_\w+"))
    assert page.evaluate("window.__samePage") is True


@pytest.mark.parametrize("size", SIZES)
def test_the_staff_page_shows_the_payment_without_a_reload(page, chromium, live_server, pay_app, sandbox, staff,
                                                           make_invoice, size):
    for name in ("razorpay", "stripe", "paypal"):
        sandbox.set_webhook_target(name, f"{live_server}/webhooks/{name}")
    invoice = make_invoice(currency="INR", open_it=True)  # ₹2,469.00
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, staff.email)
    page.goto(f"{live_server}/invoices/{invoice.id}")
    expect(fact(page, "Paid")).to_have_text("₹0.00")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # 413 px on a phone before issue 9
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    customer = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    customer.goto(f"{live_server}/pay/{invoice.pay_token}")
    customer.click("text=Pay with UPI, cards and netbanking (Razorpay)")
    customer.wait_for_url(lambda url: not url.startswith(live_server))
    customer.click("#pay")
    customer.wait_for_url(f"{live_server}/pay/{invoice.pay_token}**")
    expect(customer.locator("#pay-status")).to_contain_text("paid in full", timeout=10_000)
    customer.context.close()

    shows_paid_without_a_reload(page, invoice, "₹2,469.00")
    expect(page.locator("#payment-link")).to_contain_text("received")
    expect(page.get_by_role("button", name="Void")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("payment link"))).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.console_errors == []


def test_when_the_session_ends_the_live_page_goes_to_sign_in_instead_of_nesting_it(page, live_server, staff,
                                                                                  make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    sign_in(page, live_server, staff.email)
    page.goto(f"{live_server}/invoices/{invoice.id}")
    page.context.clear_cookies()  # signed out elsewhere, or the session expired
    page.wait_for_url(re.compile(r".*/login\?next=.*"), timeout=8_000)
    expect(page.locator("#invoice-live")).to_have_count(0)
