"""The webhook inbox in Chromium: the filters narrow the list in place (htmx), and an admin reprocesses a
delivery that was stored but never handled, which pays the invoice once; the nav badge follows."""
import re

import requests
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Invoice
from tests.e2e.test_every_page import sign_in
from tests.payments.test_inbox import store_unfinished
from tests.payments.test_webhooks import _captured_delivery


def test_filter_the_inbox_and_reprocess_an_unfinished_delivery(pay_app, live_server, admin, make_invoice, control,
                                                               page):
    invoice, _, genuine = _captured_delivery(make_invoice, control)
    store_unfinished(genuine)
    forged = requests.post(f"{live_server}/webhooks/stripe", data=b'{"id": "evt_x"}', timeout=10,
                           headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"})
    assert forged.status_code == 400

    sign_in(page, live_server, admin.email)
    page.goto(live_server + "/deliveries/")
    rows = page.locator("table.deliveries tbody tr")
    expect(rows).to_have_count(2)
    page.select_option("select[name=outcome]", "rejected")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Stripe")
    expect(page).to_have_url(re.compile(r"outcome=rejected"))

    page.select_option("select[name=outcome]", "received")
    expect(rows).to_have_count(1)
    rows.first.locator("a").first.click()
    expect(page.locator("h1")).to_have_text(re.compile("Razorpay delivery"))
    page.get_by_role("button", name="Reprocess").click()
    expect(page.locator(".flash-success")).to_contain_text("Reprocessed: applied")
    page.get_by_role("button", name="Reprocess").click()
    expect(page.locator(".flash-success")).to_contain_text("Reprocessed: duplicate")
    db.session.expire_all()
    fresh = db.session.get(Invoice, invoice.id)
    assert (fresh.status, fresh.amount_paid_minor, len(fresh.payments)) == ("paid", fresh.total_minor, 1)
    assert page.console_errors == []
