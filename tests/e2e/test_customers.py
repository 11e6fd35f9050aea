"""Customers in a real browser: the list and a customer's page fit a phone, active search, the edit form's
errors, and the invoice form's picker filling the customer fields."""
import os

import pytest
from playwright.sync_api import expect
from sqlalchemy import func

from portal.extensions import db
from portal.models import Customer, Invoice, Payment
from portal.money import Money
from tests.conftest import PASSWORD

PHONE = {"width": 390, "height": 844}
LONG_NAME = "Sri Venkateswara Agro Industries and Cold Storage Private Limited"
LONG_EMAIL = "accounts.receivable.department@sri-venkateswara-agro-industries.example"


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(base + "/login")


@pytest.fixture
def customer(make_invoice):
    """A customer with long details, invoices in two currencies and a payment."""
    who = {"name": LONG_NAME, "email": LONG_EMAIL, "phone": "+91 98765 43210"}
    inr = make_invoice(customer=who, open_it=True,
                       items=[{"description": "Cold storage, March", "quantity": 1, "unit_price": "125000.00"}])
    make_invoice(customer=who, currency="USD", open_it=True,
                 items=[{"description": "Export handling", "quantity": 1, "unit_price": "1999.99"}])
    inr.record_payment(Money(25000_00, "INR"))
    db.session.add(Payment(invoice_id=inr.id, gateway="razorpay", payment_id="pay_e2e_1", currency="INR",
                           amount_minor=25000_00, source="webhook"))
    db.session.commit()
    make_invoice(name="Asha Traders", email="asha@example.com")
    return inr.customer


def test_the_customer_list_and_page_fit_a_phone(page, live_server, staff, customer):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/customers/")
    row = page.locator("table.customers tbody tr", has_text="Sri Venkateswara")
    expect(row).to_contain_text("₹1,00,000.00")
    expect(row).to_contain_text("$1,999.99")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the customer list scrolls sideways on a phone ({width}px)"

    row.locator("a").click()
    expect(page.locator("h1")).to_have_text(LONG_NAME)
    expect(page.locator("table.customer-payments")).to_contain_text("₹25,000.00")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"a customer's page scrolls sideways on a phone ({width}px)"
    assert page.console_errors == []


def test_active_search_and_an_edit_with_a_mistake(page, live_server, staff, customer):
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/customers/")
    page.fill("input[name=q]", "98765")  # a phone number
    expect(page.locator("#customer-results tbody tr")).to_have_count(1)
    expect(page.locator("#customer-results")).to_contain_text("Sri Venkateswara")
    assert "q=98765" in page.url

    page.goto(live_server + f"/customers/{customer.id}/edit")
    page.fill("input[name=email]", "not an email")
    page.click("text=Save customer")
    email = page.locator("input[name=email]")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_have_text("Enter an email address like name@example.com.")
    expect(page.locator(".error-summary")).to_be_focused()  # a screen reader hears what went wrong first
    page.click(".error-summary a")
    expect(email).to_be_focused()
    page.fill("input[name=email]", "accounts@svai.example")
    page.click("text=Save customer")
    expect(page.locator(".flash-success")).to_contain_text("keep the details they were issued with")
    expect(page.locator(".facts")).to_contain_text("accounts@svai.example")
    # Chromium logs the refused form's 422 itself; nothing else may go wrong.
    assert [e for e in page.console_errors if "422" not in e] == []


def test_the_picker_fills_the_customer_fields(page, app, live_server, staff, customer):
    from flask import render_template_string
    from flask_login import login_required

    # The invoice form includes the picker; a bare form here tests the picker alone.
    @login_required
    def picker_page():
        return render_template_string('{% extends "base.html" %}{% block content %}<form method="post">'
                                      '{% include "customers/_picker.html" %}</form>{% endblock %}')
    app.add_url_rule("/_test/picker", "test_picker", picker_page)

    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/_test/picker")
    search = page.locator("input[type=search][name=q]")
    expect(search).to_be_visible()  # JavaScript reveals the search
    search.fill("venkat")
    option = page.locator("[data-customer-option]")
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator("input[name=customer_name]")).to_have_value(LONG_NAME)
    expect(page.locator("input[name=customer_email]")).to_have_value(LONG_EMAIL)
    expect(page.locator("input[name=customer_phone]")).to_have_value("+91 98765 43210")
    expect(page.locator("input[name=customer_id]")).to_have_value(str(customer.id))
    page.fill("input[name=customer_email]", "someone.else@example.com")  # now a new customer's details
    expect(page.locator("input[name=customer_id]")).to_have_value("")
    assert page.console_errors == []


def test_an_invoice_goes_to_the_customer_picked_on_the_invoice_form(page, live_server, staff, customer):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/invoices/new")
    page.fill("#customer-search", "venkat")
    option = page.locator("[data-customer-option]")
    expect(option).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the invoice form with the picker open scrolls sideways ({width}px)"
    if os.environ.get("PICKER_SHOTS_DIR"):
        page.screenshot(path=f"{os.environ['PICKER_SHOTS_DIR']}/invoice-form-picker-390.png")
    option.click()
    expect(page.locator("#customer_name")).to_have_value(LONG_NAME)
    expect(page.locator("#customer_email")).to_have_value(LONG_EMAIL)
    expect(page.locator("#customer_phone")).to_have_value("+91 98765 43210")
    page.fill("#items-0-description", "Cold storage, April")
    page.fill("#items-0-unit_price", "500.00")
    page.click("text=Save draft")
    expect(page.locator("h1")).to_contain_text("INV-")
    db.session.expire_all()
    invoice = db.session.scalars(db.select(Invoice).order_by(Invoice.id.desc()).limit(1)).one()
    assert invoice.customer_id == customer.id
    assert db.session.scalar(db.select(func.count()).select_from(Customer).where(Customer.name == LONG_NAME)) == 1
    assert page.console_errors == []
