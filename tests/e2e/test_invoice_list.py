"""The invoice list in Chromium: a header sorts without a reload, and the next search keeps that order."""
import re

from playwright.sync_api import expect

from tests.e2e.test_every_page import sign_in


def test_sorting_then_searching_keeps_the_order_and_the_url(page, live_server, staff, make_invoice):
    for name, price in (("Banyan Books", "300.00"), ("Cedar Crafts", "100.00"), ("Amber Arts", "200.00"),
                        ("Zed Zinc", "50.00")):
        make_invoice(name=name, email=f"{name.split()[0].lower()}@example.com",
                     items=[{"description": "Work", "quantity": 1, "unit_price": price}])
    sign_in(page, live_server, staff.email)
    page.goto(live_server + "/invoices/")
    customers = page.locator("table.invoices tbody td[data-label=Customer]")

    page.click("th >> text=Customer")
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Customer")
    expect(customers.first).to_contain_text("Amber Arts")
    assert "sort=customer" in page.url and "dir=asc" in page.url  # htmx pushed the address
    page.click("th >> text=Customer")
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Customer")
    expect(customers.first).to_contain_text("Zed Zinc")

    page.fill("input[name=q]", "ar")  # Amber Arts, Cedar Crafts
    expect(customers).to_have_count(2)
    expect(customers.first).to_contain_text("Cedar Crafts")  # still by customer, descending
    assert re.search(r"q=ar\b", page.url) and "sort=customer" in page.url and "dir=desc" in page.url
    expect(page.locator("ul.list-totals")).to_contain_text("₹300.00")
    assert page.console_errors == []
