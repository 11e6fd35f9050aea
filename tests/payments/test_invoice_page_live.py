"""The staff invoice page stays live: one region, one poller, everything that can change in it (issue 9)."""
import re

from portal.extensions import db
from portal.models import Invoice, LinkClick
from portal.money import Money
from portal.payments import engine
from tests.payments.test_webhooks import hooked, pay, wait_for  # noqa: F401  (hooked is a fixture)

LIVE = {"HX-Request": "true"}


def live_region(client, invoice, version=None):
    query = f"?v={version}" if version else ""
    return client.get(f"/invoices/{invoice.id}{query}", headers=LIVE)


def version_of(html):
    return re.search(r'hx-get="/invoices/\d+\?v=(\w+)"', html).group(1)


def test_after_a_sandbox_payment_and_its_signed_webhook_the_live_region_shows_it_all(
        hooked, signed_in_staff, make_invoice, control):
    invoice = make_invoice(currency="INR", open_it=True)  # ₹2,469.00
    page = signed_in_staff.get(f"/invoices/{invoice.id}")
    html = page.get_data(as_text=True)
    assert page.headers["Vary"] == "Cookie, HX-Request" or "HX-Request" in page.headers["Vary"]
    assert html.count('hx-trigger="every 3s"') == 1  # one poller for the whole page
    assert "Void</button>" in html and "No payment received yet" in html

    link = engine.generate_link(invoice, requested="razorpay").link
    pay(control, link)  # the sandbox signs and delivers payment_link.paid to the live server
    assert wait_for(lambda: db.session.get(Invoice, invoice.id).status == "paid")

    response = live_region(signed_in_staff, invoice, version_of(html))
    live = response.get_data(as_text=True)
    assert response.status_code == 286 and "<html" not in live  # final: htmx stops polling
    assert "HX-Request" in response.headers["Vary"]
    assert re.search(r'id="invoice-status-\d+" class="badge badge-paid">Paid<', live)
    assert re.search(r'id="invoice-paid">₹2,469.00<', live)
    assert re.search(r'id="invoice-due">₹0.00<', live)
    payment = db.session.get(Invoice, invoice.id).payments[0]
    assert payment.payment_id in live and "No payment received yet" not in live
    assert "Void</button>" not in live and "Generate payment link" not in live and "Get payment link" not in live
    assert "hx-trigger" not in live  # nothing left to poll


def test_the_poll_answers_204_while_nothing_changed_and_the_region_when_something_did(
        pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    first = live_region(signed_in_staff, invoice)
    version = version_of(first.get_data(as_text=True))
    assert first.status_code == 200
    assert live_region(signed_in_staff, invoice, version).status_code == 204
    invoice.record_payment(Money(1000_00, "INR"))
    db.session.commit()
    changed = live_region(signed_in_staff, invoice, version)
    html = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "badge-partially_paid" in html and 'id="invoice-paid">₹1,000.00<' in html
    assert 'id="invoice-due">₹1,469.00' in html and version_of(html) != version


def test_a_link_made_by_the_customer_on_the_pay_page_reaches_the_staff_page(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    version = version_of(live_region(signed_in_staff, invoice).get_data(as_text=True))
    link = engine.generate_link(invoice, actor_label="customer (pay page)").link
    html = live_region(signed_in_staff, invoice, version).get_data(as_text=True)
    assert link.url in html and "customer (pay page)" in html


# ---- the link panel's three states ------------------------------------------------------------------

def panel(client, invoice):
    html = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    return html[html.index('id="payment-link"'):html.index('id="payments"')]


def test_a_draft_has_nothing_to_share(pay_app, signed_in_staff, make_invoice):
    draft = make_invoice(currency="INR")
    html = panel(signed_in_staff, draft)
    assert 'data-state="none"' in html and "Issue the invoice to share it" in html
    assert "/pay/" not in html and "wa.me" not in html


def test_a_void_invoice_has_nothing_to_share(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    invoice.void()
    db.session.commit()
    html = panel(signed_in_staff, invoice)
    assert 'data-state="none"' in html and "void" in html and "/pay/" not in html
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert 'id="invoice-due">Nothing: the invoice is void<' in page


def test_an_open_invoice_shares_its_pay_page_and_keeps_the_gateway_link_secondary(
        pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True, customer={"name": "Asha Traders", "email": "asha@example.com",
                                                                    "phone": "+91 98765-43210"})
    html = panel(signed_in_staff, invoice)
    pay_url = f"https://portal.example/pay/{invoice.pay_token}"
    assert 'data-state="share"' in html and f'id="pay-url" class="link-url" readonly value="{pay_url}"' in html
    assert "https://wa.me/919876543210?text=" in html and "mailto:asha%40example.com" in html
    assert "No live link yet" not in html
    link = engine.generate_link(invoice).link
    html = panel(signed_in_staff, invoice)
    # Staff share one address: the pay page. The gateway's own link sits in a <details> below it.
    assert html.index('id="pay-url"') < html.index("<details class=\"gateway-link\"") < html.index(link.url)


def test_whatsapp_without_a_stored_phone_lets_staff_choose_the_contact(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    assert "https://wa.me/?text=" in panel(signed_in_staff, invoice)


def test_a_paid_invoice_shows_a_receipt(hooked, signed_in_staff, make_invoice, control):
    invoice = make_invoice(currency="INR", open_it=True)
    link = engine.generate_link(invoice).link
    pay(control, link)
    assert wait_for(lambda: db.session.get(Invoice, invoice.id).status == "paid")
    html = panel(signed_in_staff, invoice)
    payment = db.session.get(Invoice, invoice.id).payments[0]
    assert 'data-state="paid"' in html and "₹2,469.00</strong> received" in html
    assert payment.payment_id in html and "Razorpay" in html
    assert "/pay/" not in html and "wa.me" not in html and "<form" not in html


def test_staff_generating_a_gateway_link_get_the_whole_live_region_back(pay_app, signed_in_staff, make_invoice):
    invoice = make_invoice(currency="INR", open_it=True)
    response = signed_in_staff.post(f"/invoices/{invoice.id}/payment-link", token_page=f"/invoices/{invoice.id}",
                                    headers=LIVE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<div id="invoice-live"') or 'id="invoice-live"' in html
    assert "<details class=\"gateway-link\" open" in html and "first choice for INR" in html
    assert db.session.scalar(db.select(LinkClick).where(LinkClick.invoice_id == invoice.id)).outcome == "created"
