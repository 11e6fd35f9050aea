"""An admin gives part of a payment back from the invoice page, in a real browser, through Stripe's API (the
sandbox); the page shows what Stripe answered and what is left."""
from playwright.sync_api import expect

from tests.e2e.test_staff_flow import sign_in
from tests.payments.test_refunds import gateway_refunds, paid
from tests.payments.test_webhooks import hooked  # noqa: F401 (fixture: the sandbox's webhooks reach the portal)


def test_an_admin_refunds_part_of_a_payment_from_the_invoice_page(page, hooked, make_invoice, control, admin):
    invoice, payment = paid(make_invoice, control, "stripe")  # $120.00
    sign_in(page, hooked, admin.email)
    page.goto(f"{hooked}/invoices/{invoice.id}")
    expect(page.locator(f"#payment-{payment.id} [data-payment-status]")).to_have_text("Captured")

    page.click(f"#refund-{payment.id} summary")
    amount = page.locator(f"#refund-amount-{payment.id}")
    expect(amount).to_have_value("120.00")  # everything that is left, to start from
    expect(page.locator(f"#refund-left-{payment.id}")).to_have_text("Up to $120.00 can be refunded.")
    amount.fill("25.50")
    page.fill(f"#refund-reason-{payment.id}", "One item arrived damaged")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.click(f"#refund-{payment.id} button[type=submit]")

    expect(page.locator(".flash-success")).to_have_text("Refunded $25.50 through Stripe.")
    assert dialogs and "Refund this amount to the customer through Stripe?" in dialogs[0]
    expect(page.locator(f"#payment-{payment.id} [data-payment-status]")).to_have_text("Partially refunded")
    row = page.locator(f"#money-back-{payment.id} table.refunds tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("$25.50")
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("One item arrived damaged")
    expect(page.locator("#invoice-refunded")).to_have_text("$25.50")
    expect(page.locator("#invoice-kept")).to_have_text("$94.50")
    expect(page.locator("h1 .badge")).to_have_text("Paid")
    page.click(f"#refund-{payment.id} summary")
    expect(page.locator(f"#refund-left-{payment.id}")).to_have_text("Up to $94.50 can be refunded.")
    [made] = gateway_refunds(control, "stripe")
    assert made["amount"] == 2550
    assert page.console_errors == []
