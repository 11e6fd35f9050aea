"""In the `make run` default (no mail server), issuing an invoice writes its email to the Outbox, where staff read
exactly what the customer would receive."""
from playwright.sync_api import expect

from tests.e2e.test_staff_flow import sign_in


def test_issuing_an_invoice_puts_its_email_on_the_outbox_page(page, live_server, staff, make_invoice):
    invoice = make_invoice(name="Kaveri Foods", email="finance@kaveri.example")
    sign_in(page, live_server, staff.email)
    page.goto(f"{live_server}/invoices/{invoice.id}")
    page.click("text=Issue invoice")
    expect(page.locator(".flash-success")).to_contain_text("open for payment")

    page.click("nav.site-nav >> text=Outbox")
    expect(page.locator("p.flash")).to_contain_text("No mail server is set")
    row = page.locator("table.outbox tbody tr").first
    expect(row).to_contain_text("finance@kaveri.example")
    expect(row).to_contain_text("Kept here")
    row.locator("a").click()
    expect(page.locator("h1")).to_have_text(f"Invoice {invoice.number} from HisabPro Demo Store: ₹2,469.00 due")
    expect(page.locator("#mail-text")).to_contain_text("Pay online: ")
    preview = page.frame_locator("iframe.mail-preview")
    expect(preview.locator("a", has_text="Pay ₹2,469.00")).to_be_visible()
    assert page.console_errors == []
