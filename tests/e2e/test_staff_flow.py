"""A member of staff signs in, writes an invoice with an extra line, finds it, issues and voids it."""
from playwright.sync_api import expect

from tests.conftest import PASSWORD


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/")


def test_invoice_lifecycle_in_a_real_browser(page, live_server, staff):
    sign_in(page, live_server, staff.email)

    page.click("text=New invoice >> nth=0")
    page.fill("input[name=customer_name]", "Asha Traders")
    page.fill("input[name=customer_email]", "asha@example.com")
    page.select_option("select[name=currency]", "INR")
    page.fill("input[name=items-0-description]", "Website design")
    page.fill("input[name=items-0-unit_price]", "45000.00")
    page.click("[data-add-line]")  # JavaScript adds a row without a round trip
    expect(page.locator("[data-line-row]")).to_have_count(2)
    page.fill("input[name=items-1-description]", "Hosting")
    page.fill("input[name=items-1-quantity]", "12")
    page.fill("input[name=items-1-unit_price]", "499.50")
    page.click("text=Save draft")

    expect(page.locator("h1")).to_contain_text("INV-")
    expect(page.locator(".amount")).to_have_text("₹50,994.00")
    number = page.locator("h1").inner_text().split()[0]

    page.click("text=Issue invoice")
    expect(page.locator(".flash-success")).to_contain_text("open for payment")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Void')")
    expect(page.locator("h1 .badge")).to_have_text("Void")

    page.goto(live_server + "/invoices/")
    page.fill("input[name=q]", "nobody-matches-this")
    expect(page.locator("#results")).to_contain_text("No invoices match")  # htmx swapped the results
    page.fill("input[name=q]", "asha")
    expect(page.locator("#results")).to_contain_text(number)
    assert "q=asha" in page.url  # hx-push-url keeps the search shareable
    assert page.console_errors == []  # no CSP violations, no script errors


def test_the_invoice_list_works_on_a_phone_screen(page, live_server, staff, make_invoice):
    make_invoice(name="Kobe Imports", currency="JPY", items=[{"description": "Tea", "quantity": 3, "unit_price": "4800"}])
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/invoices/")  # sign-in lands on Home
    row = page.locator("table.invoices tbody tr").first
    expect(row).to_contain_text("¥14,400")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page scrolls sideways on a phone ({width}px)"
