"""The webhook inbox in Chromium: the filters narrow the list in place (htmx), and an admin reprocesses a
delivery that was stored but never handled, which pays the invoice once; the nav badge follows."""
import json
import re

import requests
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Invoice, WebhookDelivery
from tests.e2e.test_every_page import sign_in
from tests.payments.test_webhooks import _captured_delivery


def test_filter_the_inbox_and_reprocess_an_unfinished_delivery(pay_app, live_server, admin, make_invoice, control,
                                                               page):
    invoice, _, genuine = _captured_delivery(make_invoice, control)
    body = genuine["body"].encode()
    # Stored but never handled, as a worker that died mid-verification leaves it.
    db.session.add(WebhookDelivery(gateway="razorpay", event_id=genuine["headers"].get("X-Razorpay-Event-Id"),
                                   body=body, body_size=len(body), headers=json.dumps(genuine["headers"]),
                                   outcome="received"))
    db.session.commit()
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
