"""A merchant's whole round, in Chromium at desk and phone sizes (issue 9): sign in, read Home's totals,
make an INR invoice with two tax rates, a 1.5 quantity and a 10 % discount for a customer picked by
typing, edit it and save it unchanged, issue it, share its pay page; the customer pays on a phone while the
staff page, left open, turns Paid with the money, nothing due and the payment row, without a reload.

LOOK_SHOTS=/some/dir keeps a screenshot of every step for people to look at."""
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.invoices import service
from portal.models import Customer, Invoice, Payment, TaxRate, utcnow
from portal.money import Money
from tests.e2e.test_invoice_form import fill_two_rates_fraction_and_discount, no_sideways_scroll, sign_in
from tests.e2e.test_invoice_page_live import shows_paid_without_a_reload

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def shot(page, name: str) -> None:
    if os.environ.get("LOOK_SHOTS"):
        folder = Path(os.environ["LOOK_SHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"journey-{name}.png"), full_page=True)


@pytest.fixture
def seeded(app, staff):
    """Two tax rates; a regular customer with a phone; one open invoice (₹2,469.00, due next month) and one
    overdue invoice of ₹2,469.00 of which ₹469.00 came in today: Home's numbers are known to the paisa."""
    db.session.add_all([TaxRate(name="GST 18%", percent_milli=18_000), TaxRate(name="GST 5%", percent_milli=5_000)])
    db.session.commit()
    items = [{"description": "Design work", "quantity": 2, "unit_price": "1234.50"}]
    today = utcnow().date()
    for name, due in (("Mehta Clinic", today + timedelta(days=30)), ("Gupta Logistics", today - timedelta(days=10))):
        invoice = service.create_invoice(service.parse_invoice_input(
            {"customer": {"name": name, "email": f"{name.split()[0].lower()}@example.com"}, "currency": "INR",
             "items": items, "due_date": due.isoformat()}), staff)
        service.open_invoice(invoice, staff)
    overdue = db.session.scalars(db.select(Invoice).order_by(Invoice.id.desc())).first()
    overdue.record_payment(Money(46_900, "INR"))
    db.session.add(Payment(invoice_id=overdue.id, gateway="razorpay", currency="INR", payment_id="pay_seeded01",
                           amount_minor=46_900, source="webhook", received_at=utcnow()))
    db.session.add(Customer(name="Kaveri Foods", email="finance@kaveri.example", phone="+91 98450 12345"))
    db.session.commit()


@pytest.mark.parametrize("size", SIZES)
def test_sign_in_to_paid_without_a_reload(page, chromium, live_server, pay_app, sandbox, staff, seeded, size):
    for name in ("razorpay", "stripe", "paypal"):
        sandbox.set_webhook_target(name, f"{live_server}/webhooks/{name}")
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})

    # Sign in: Home says where the money is.
    sign_in(page, live_server, staff.email)
    expect(page.locator("[data-figure=outstanding]")).to_have_text("₹4,469.00")
    expect(page.locator("[data-figure=overdue]")).to_contain_text("₹2,000.00")
    expect(page.locator("[data-figure=overdue]")).to_contain_text("1 invoice")
    expect(page.locator("[data-figure=collected]")).to_have_text("₹469.00")
    expect(page.locator("table.payments tbody tr")).to_have_count(1)
    no_sideways_scroll(page, width)
    shot(page, f"home-{size}")

    # A new invoice for a customer found by typing, with two rates, a fraction and a discount.
    page.goto(live_server + "/invoices/new")
    page.fill("#customer-search", "kaveri")
    page.locator("[data-customer-option]").click()
    expect(page.locator("#customer_phone")).to_have_value("+91 98450 12345")
    fill_two_rates_fraction_and_discount(page)
    expect(page.locator("#running-total")).to_contain_text("₹2,065.49")
    no_sideways_scroll(page, width)
    shot(page, f"form-{size}")
    page.click("text=Save draft")
    expect(page.locator(".amount")).to_have_text("₹2,065.49")

    # Edit, change nothing, save: it succeeds and the invoice is as it was.
    page.click("a:has-text('Edit')")
    expect(page.locator("[data-line-row]")).to_have_count(2)
    page.click("text=Save draft")
    expect(page.locator(".flash-success")).to_contain_text("updated")
    expect(page.locator(".amount")).to_have_text("₹2,065.49")

    # Issue, then share: the pay page's address, and WhatsApp to the customer's stored phone.
    page.click("text=Issue invoice")
    invoice = db.session.scalars(db.select(Invoice).join(Invoice.customer)
                                 .where(Customer.name == "Kaveri Foods")).one()
    panel = page.locator("#payment-link")
    expect(panel).to_have_attribute("data-state", "share")
    expect(page.locator("#pay-url")).to_have_value(re.compile(rf"/pay/{invoice.pay_token}$"))
    whatsapp = panel.locator("a:has-text('WhatsApp')")
    expect(whatsapp).to_have_attribute("href", re.compile(r"^https://wa\.me/919845012345\?text="))
    assert f"/pay/{invoice.pay_token}" in unquote(whatsapp.get_attribute("href"))
    expect(panel.locator("a:has-text('Email')")).to_have_attribute("href", re.compile(r"^mailto:finance%40kaveri\.example"))
    pay_url = page.locator("#pay-url").input_value()
    no_sideways_scroll(page, width)
    shot(page, f"invoice-issued-{size}")
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    # The customer pays on a phone.
    customer = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    customer.goto(pay_url.replace("https://portal.example", live_server))
    expect(customer.locator(".grand-total .num")).to_have_text("₹2,065.49")
    no_sideways_scroll(customer, 390)
    shot(customer, f"pay-page-phone-{size}")
    customer.click("text=Pay with UPI, cards and netbanking (Razorpay)")
    customer.wait_for_url(lambda url: not url.startswith(live_server))
    customer.click("#pay")
    customer.wait_for_url(f"{live_server}/pay/{invoice.pay_token}**")
    expect(customer.locator("#pay-status")).to_contain_text("paid in full", timeout=10_000)
    shot(customer, f"pay-page-paid-phone-{size}")
    customer.context.close()

    # The staff page, left open, caught up by itself.
    shows_paid_without_a_reload(page, invoice, "₹2,065.49")
    expect(page.locator("section:has(h2:text-is('Payments')) tbody tr")).to_contain_text("₹2,065.49")
    expect(panel).to_have_attribute("data-state", "paid")
    no_sideways_scroll(page, width)
    shot(page, f"invoice-paid-{size}")
    assert page.console_errors == []
