"""The invoice form in Chromium at desk and phone sizes (issue 9): two tax rates, a 1.5 quantity and a
10 % discount, the server's running total, then edit and save unchanged; errors take the focus."""
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Invoice, TaxRate
from tests.conftest import PASSWORD

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/h-money-shots"))
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/")  # sign-in lands on Home


def open_section(page, label):
    """Go to a section through the navigation, as a person would: on a phone through the Menu button."""
    # app.js shows the Menu button and folds the sections: decide only once it has run (a slow machine may not yet).
    page.wait_for_load_state("load")
    toggle = page.locator(".nav-toggle")
    if toggle.is_visible():
        toggle.click()
    page.locator("nav.site-nav").get_by_role("link", name=label, exact=True).click()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page, width):
    scroll = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > w + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
                         width)
    assert scroll <= width, f"{page.url} scrolls sideways ({scroll}px at {width}px): {wide}"


def fill_two_rates_fraction_and_discount(page) -> None:
    """Issue 9's invoice: 1.5 x ₹999.99 at GST 18 %, 2 x ₹250.00 at GST 5 %, 10 % off: ₹2,065.49."""
    page.fill("#items-0-description", "Design hours")
    page.fill("#items-0-quantity", "1.5")
    page.fill("#items-0-unit_price", "999.99")
    page.select_option("#items-0-tax_rate_id", label="GST 18%")
    page.click("[data-add-line]")
    page.fill("#items-1-description", "Hosting")
    page.fill("#items-1-quantity", "2")
    page.fill("#items-1-unit_price", "250.00")
    page.select_option("#items-1-tax_rate_id", label="GST 5%")
    page.select_option("#discount_type", "percent")
    page.fill("#discount_value", "10")


@pytest.mark.parametrize("size", SIZES)
def test_inr_invoice_with_two_rates_fraction_and_discount_then_edit_unchanged(page, live_server, staff, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    db.session.add_all([TaxRate(name="GST 18%", percent_milli=18_000), TaxRate(name="GST 5%", percent_milli=5_000)])
    db.session.commit()
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/invoices/new")
    expect(page.locator("select[name=currency]")).to_have_value("INR")
    no_sideways_scroll(page, width)

    page.fill("#customer_name", "Asha Traders")
    page.fill("#customer_email", "asha@example.com")
    fill_two_rates_fraction_and_discount(page)
    # The running total comes from the server (htmx), per tax rate.
    total = page.locator("#running-total")
    expect(total).to_contain_text("₹2,065.49")
    expect(total).to_contain_text("GST 18%")
    expect(total).to_contain_text("₹243.00")
    expect(total).to_contain_text("₹22.50")
    no_sideways_scroll(page, width)
    shot(page, f"form-new-{size}")
    page.click("text=Save draft")

    expect(page.locator("h1")).to_contain_text("INV-")
    expect(page.locator(".amount")).to_have_text("₹2,065.49")
    no_sideways_scroll(page, width)
    shot(page, f"invoice-{size}")
    page.click("a:has-text('Edit')")
    expect(page.locator("[data-line-row]")).to_have_count(2)  # no extra blank line
    expect(page.locator("#items-0-quantity")).to_have_value("1.5")
    expect(page.locator("#running-total")).to_contain_text("₹2,065.49")
    no_sideways_scroll(page, width)
    shot(page, f"form-edit-{size}")
    page.click("text=Save draft")
    expect(page.locator(".flash-success")).to_contain_text("updated")
    invoice = db.session.scalars(db.select(Invoice)).one()
    assert invoice.total_minor == 206549 and [l.quantity_milli for l in invoice.lines] == [1500, 2000]

    # Issued, the customer's pay page shows the same breakdown and amount.
    page.click("text=Issue invoice")
    page.goto(f"{live_server}/pay/{invoice.pay_token}")
    expect(page.locator(".grand-total .num")).to_have_text("₹2,065.49")
    expect(page.locator("main")).to_contain_text("Due ₹2,065.49")
    expect(page.locator("table.lines")).to_contain_text("GST 5%")
    no_sideways_scroll(page, width)
    shot(page, f"pay-{size}")
    assert page.console_errors == []


@pytest.mark.parametrize("size", SIZES)
def test_admin_tax_rates_page(page, live_server, admin, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, admin.email)
    open_section(page, "Tax rates")
    page.fill("#rate-name", "Sales tax 8.875%")
    page.fill("#rate-percent", "8.875")
    page.click("text=Add rate")
    expect(page.locator(".flash-success")).to_contain_text("Sales tax 8.875% added")
    page.fill("#rate-name", "GST 18%")
    page.fill("#rate-percent", "180")
    page.click("text=Add rate")
    expect(page.locator("#rate-percent")).to_be_focused()
    expect(page.locator("#rate-percent-error")).to_have_text("must be at most 100")
    no_sideways_scroll(page, width)
    shot(page, f"tax-rates-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_errors_are_marked_and_take_the_focus(page, live_server, staff, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/invoices/new")
    page.fill("#customer_name", "Asha Traders")
    page.fill("#customer_email", "not-an-email")
    page.fill("#items-0-description", "Design")
    page.fill("#items-0-quantity", "99999999")
    page.fill("#items-0-unit_price", "10.00")
    page.click("text=Save draft")
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#customer_email")).to_be_focused()
    expect(page.locator("#customer_email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#items-0-quantity-error")).to_have_text("is too large (at most 1,000,000)")
    border = page.eval_on_selector("#customer_email", "el => getComputedStyle(el).borderTopColor")
    assert border == "rgb(180, 35, 24)"  # the error red
    no_sideways_scroll(page, width)
    shot(page, f"form-errors-{size}")
    page.click("#error-summary a:has-text('Line 1 quantity')")
    expect(page.locator("#items-0-quantity")).to_be_focused()
