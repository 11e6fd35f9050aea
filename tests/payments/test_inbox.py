"""The webhook inbox (issue 10): staff see every delivery and what became of it, with secrets masked;
admins reprocess a stored delivery, which can never apply money twice. Deliveries are real: signed by the
sandbox and posted to our webhook endpoint, as the gateways send them."""
import json
import re

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Invoice, Payment, ProcessedEvent, WebhookDelivery
from tests.payments.test_paypal_forgery import _send, captured  # noqa: F401 - the fixture
from tests.payments.test_webhooks import _captured_delivery, _post


def _deliveries():
    return db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def _audits(action):
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)).all()


def _money(invoice):
    fresh = db.session.get(Invoice, invoice.id)
    payments = db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)).all()
    return fresh.status, fresh.amount_paid_minor, len(payments)


def _applied_razorpay(client, make_invoice, control):
    invoice, link, genuine = _captured_delivery(make_invoice, control)
    assert _post(client, "razorpay", genuine["body"].encode(), genuine["headers"]).get_json() == {"status": "applied"}
    [delivery] = _deliveries()
    return invoice, delivery, genuine


def store_unfinished(genuine: dict) -> bytes:
    """Store a genuine Razorpay delivery as a worker that died mid-verification leaves it; returns its body."""
    body = genuine["body"].encode()
    db.session.add(WebhookDelivery(gateway="razorpay", event_id=genuine["headers"].get("X-Razorpay-Event-Id"),
                                   body=body, body_size=len(body), headers=json.dumps(genuine["headers"]),
                                   outcome="received"))
    db.session.commit()
    return body


def _forged(client, gateway="stripe", body=b'{"id": "evt_forged", "type": "checkout.session.completed"}',
            headers=None):
    response = _post(client, gateway, body, headers or {"Stripe-Signature": "t=1,v1=" + "0" * 64})
    assert response.status_code == 400
    return _deliveries()[-1]


# ---- the attack first: staff cannot reprocess ------------------------------------------------------------
def test_staff_cannot_reprocess_a_delivery(pay_app, browser, staff, make_invoice, control):
    invoice, delivery, _ = _applied_razorpay(browser.client, make_invoice, control)
    # Stored while unapplied, as a crash mid-handling leaves it: reprocessing it would move money.
    delivery.outcome, delivery.verified, delivery.detail = "received", False, ""
    db.session.delete(db.session.get(ProcessedEvent, ("razorpay", delivery.event_id)))
    db.session.commit()
    before = _money(invoice)
    browser.login(staff.email)
    page = browser.get(f"/deliveries/{delivery.id}").get_data(as_text=True)
    assert "Reprocess</button>" not in page  # no button that would only fail
    response = browser.post(f"/deliveries/{delivery.id}/reprocess")
    assert response.status_code == 403
    assert _money(invoice) == before and db.session.get(WebhookDelivery, delivery.id).outcome == "received"
    assert not _audits("webhook.reprocessed")


def test_reprocess_needs_the_csrf_token(pay_app, browser, admin, make_invoice, control):
    invoice, delivery, _ = _applied_razorpay(browser.client, make_invoice, control)
    browser.login(admin.email)
    response = browser.client.post(f"/deliveries/{delivery.id}/reprocess", data={})
    assert response.status_code == 400
    assert not _audits("webhook.reprocessed")


# ---- what staff see --------------------------------------------------------------------------------------
def test_staff_see_every_delivery_with_its_outcome_and_invoice(pay_app, browser, staff, make_invoice, control):
    invoice, delivery, _ = _applied_razorpay(browser.client, make_invoice, control)
    forged = _forged(browser.client)
    browser.login(staff.email)
    page = browser.get("/deliveries/").get_data(as_text=True)
    listing = page[page.index('<table class="stack deliveries">'):]
    rows = re.findall(r"<tr>.*?</tr>", listing, re.S)[1:]
    assert len(rows) == 2
    newest, applied = rows  # newest first
    assert "Stripe" in newest and "Rejected" in newest and "No: " in newest and "signature" in newest.lower()
    assert "Razorpay" in applied and "payment_link.paid" in applied and "Applied" in applied
    assert f'href="/invoices/{invoice.id}"' in applied and invoice.number in applied
    assert f'href="/deliveries/{forged.id}"' in newest
    # Times in the merchant's zone (Asia/Kolkata by default: UTC + 5:30).
    local = delivery.received_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata"))
    assert local.strftime("%d %b %Y %H:%M:%S") in applied
    assert "Rejected in the last 24 hours" in page and "1 delivery failed verification" in page
    assert "<svg" in page and "Numbers per hour" in page


def test_filters_by_gateway_outcome_and_period(pay_app, browser, staff, make_invoice, control):
    invoice, delivery, _ = _applied_razorpay(browser.client, make_invoice, control)
    _forged(browser.client)
    browser.login(staff.email)

    def shown(query):
        response = browser.get("/deliveries/" + query)
        assert response.status_code == 200, query
        return len(re.findall(r'href="/deliveries/\d+"', response.get_data(as_text=True)))

    assert shown("") == 2
    assert shown("?gateway=razorpay") == 1 and shown("?gateway=paypal") == 0
    assert shown("?outcome=rejected") == 1 and shown("?outcome=applied&gateway=razorpay") == 1
    today = delivery.received_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata")).date()
    assert shown(f"?from={today}&to={today}") == 2
    assert shown("?from=2001-01-01&to=2001-01-31") == 0
    for bad in ("?gateway=nope", "?outcome=paid", "?from=yesterday", "?page=0", f"?from={today}&to=2001-01-01"):
        assert browser.get("/deliveries/" + bad).status_code == 400, bad


def test_the_list_pages_newest_first(pay_app, browser, staff):
    from portal.inbox.deliveries import PER_PAGE

    for n in range(PER_PAGE + 3):
        db.session.add(WebhookDelivery(gateway="stripe", event_id=f"evt_{n}", body=b"{}", outcome="rejected",
                                       detail="bad signature"))
    db.session.commit()
    browser.login(staff.email)
    first = browser.get("/deliveries/").get_data(as_text=True)
    second = browser.get("/deliveries/?page=2").get_data(as_text=True)
    assert len(re.findall(r'href="/deliveries/\d+"', first)) == PER_PAGE and 'rel="next"' in first
    assert len(re.findall(r'href="/deliveries/\d+"', second)) == 3 and 'rel="prev"' in second
    assert 'rel="next"' not in second
    ids = [int(i) for i in re.findall(r'href="/deliveries/(\d+)"', first)]
    assert ids == sorted(ids, reverse=True)


def test_htmx_gets_only_the_list_and_vary_says_so(pay_app, browser, staff):
    _forged(browser.client)
    browser.login(staff.email)
    full = browser.get("/deliveries/?outcome=rejected")
    fragment = browser.get("/deliveries/?outcome=rejected", headers={"HX-Request": "true"})
    assert "<html" in full.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "Rejected in the last 24 hours" not in body and "Rejected" in body
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]


# ---- a delivery's page: raw body and headers, secrets masked -------------------------------------------
def test_the_delivery_page_masks_signatures_and_secrets(pay_app, browser, staff, make_invoice, control):
    invoice, delivery, genuine = _applied_razorpay(browser.client, make_invoice, control)
    signature = genuine["headers"]["X-Razorpay-Signature"]
    secret = pay_app.config["RAZORPAY_WEBHOOK_SECRET"]
    hostile = json.dumps({"event": "payment_link.paid", "note": "<script>alert(1)</script>",
                          "client_secret": "cs_live_abcdef123456", "echo": secret}).encode()
    forged = _forged(browser.client, "razorpay", hostile,
                     {"X-Razorpay-Signature": "f" * 64, "X-Api-Key": "k-12345678", "X-Note": "carries " + secret})
    browser.login(staff.email)

    page = browser.get(f"/deliveries/{delivery.id}").get_data(as_text=True)
    assert "X-Razorpay-Signature" in page and signature not in page and "masked" in page
    assert '"payment_link.paid"' in page or "payment_link.paid" in page  # the body is shown
    assert "Applied" in page and invoice.number in page

    page = browser.get(f"/deliveries/{forged.id}").get_data(as_text=True)
    assert "f" * 64 not in page and "k-12345678" not in page and "cs_live_abcdef123456" not in page
    assert secret not in page                       # a configured secret is masked wherever it appears
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Truncated" not in page and "Rejected" in page


def test_a_truncated_body_says_so(pay_app, browser, staff):
    _forged(browser.client, body=b'{"id": "evt_big", "pad": "' + b"x" * 5000 + b'"}')
    [row] = _deliveries()
    assert row.body_truncated
    browser.login(staff.email)
    page = browser.get(f"/deliveries/{row.id}").get_data(as_text=True)
    assert "Truncated: only the first 2048 of 5028 bytes were kept" in page


def test_an_unknown_delivery_is_404(pay_app, browser, staff):
    browser.login(staff.email)
    assert browser.get("/deliveries/999999").status_code == 404


# ---- Reprocess: idempotent, audited -------------------------------------------------------------------------
def test_reprocessing_an_applied_delivery_changes_no_money(pay_app, browser, admin, make_invoice, control):
    invoice, delivery, _ = _applied_razorpay(browser.client, make_invoice, control)
    before = _money(invoice)
    assert before == ("paid", invoice.total_minor, 1)
    browser.login(admin.email)
    for _ in range(2):
        response = browser.post(f"/deliveries/{delivery.id}/reprocess", follow_redirects=True)
        assert response.status_code == 200
        assert "Reprocessed: duplicate" in response.get_data(as_text=True)
    assert _money(invoice) == before
    assert db.session.get(WebhookDelivery, delivery.id).outcome == "applied"  # its record stays as it was
    assert len(_audits("webhook.reprocessed")) == 2


def test_a_delivery_left_unfinished_applies_exactly_once_when_clicked_twice(pay_app, browser, admin, make_invoice,
                                                                           control):
    """A genuine Razorpay delivery stored but never handled (the process stopped while verifying it)."""
    invoice, _, genuine = _captured_delivery(make_invoice, control)
    body = store_unfinished(genuine)
    [delivery] = _deliveries()
    assert _money(invoice) == ("open", 0, 0)
    browser.login(admin.email)
    assert "Reprocess</button>" in browser.get(f"/deliveries/{delivery.id}").get_data(as_text=True)
    first = browser.post(f"/deliveries/{delivery.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    second = browser.post(f"/deliveries/{delivery.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    assert "Reprocessed: applied" in first and "Reprocessed: duplicate" in second
    assert _money(invoice) == ("paid", invoice.total_minor, 1)
    row = db.session.get(WebhookDelivery, delivery.id)
    assert (row.outcome, row.verified, row.invoice_id) == ("applied", True, invoice.id)
    # The gateway sending it again afterwards changes nothing either.
    assert _post(browser.client, "razorpay", body, genuine["headers"]).get_json() == {"status": "duplicate"}
    assert _money(invoice) == ("paid", invoice.total_minor, 1)
    audits = _audits("webhook.reprocessed")
    assert len(audits) == 2 and audits[0].actor_label == admin.email and "applied" in audits[0].summary


def test_a_paypal_delivery_stored_while_paypal_was_unreachable_applies_once(pay_app, browser, admin, captured,
                                                                           control):
    invoice_a, _ = captured["a"]
    client = browser.client
    assert _send(client, captured["approved"]).get_json() == {"status": "queued"}  # certificate now at hand
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    assert _send(client, captured["completed"]).status_code == 503
    stored = _deliveries()[-1]
    assert (stored.outcome, stored.verified) == ("unverified", False)
    assert _money(invoice_a) == ("open", 0, 0)

    browser.login(admin.email)
    refused = browser.post(f"/deliveries/{stored.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    assert "Not reprocessed" in refused and "could not be asked now" in refused, re.findall(r"flash[^>]*>([^<]*)", refused)
    assert _money(invoice_a) == ("open", 0, 0)
    assert db.session.get(WebhookDelivery, stored.id).outcome == "unverified"

    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "ok"})
    first = browser.post(f"/deliveries/{stored.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    second = browser.post(f"/deliveries/{stored.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    assert "Reprocessed: applied" in first and "Reprocessed: duplicate" in second
    assert _money(invoice_a) == ("paid", 12000, 1)
    assert [a.action for a in db.session.scalars(db.select(AuditEvent).where(
        AuditEvent.action.like("webhook.reprocess%")).order_by(AuditEvent.id))] == [
        "webhook.reprocess_refused", "webhook.reprocessed", "webhook.reprocessed"]


def test_a_rejected_delivery_is_never_reprocessed(pay_app, browser, admin):
    forged = _forged(browser.client)
    browser.login(admin.email)
    page = browser.get(f"/deliveries/{forged.id}").get_data(as_text=True)
    assert "Reprocess</button>" not in page and "Reprocess is not offered" in page
    response = browser.post(f"/deliveries/{forged.id}/reprocess", follow_redirects=True)
    assert "Not reprocessed: it failed verification" in response.get_data(as_text=True)
    assert db.session.get(WebhookDelivery, forged.id).outcome == "rejected"
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0


@pytest.mark.parametrize("signed_before_arrival, applies", [(5, True), (310, False)])
def test_a_stripe_delivery_is_checked_against_when_it_arrived_not_when_it_is_reprocessed(
        pay_app, browser, admin, make_invoice, control, signed_before_arrival, applies):
    """Stripe signs a timestamp and we accept it for 300 s. A delivery that arrived fresh 20 minutes ago and was
    never handled must still be reprocessable; one that was already stale on arrival must stay refused."""
    from datetime import timedelta

    from portal.models import utcnow
    from tests.payments.test_webhooks import _stripe_event_signed_at

    arrived = utcnow() - timedelta(minutes=20)
    invoice, body, headers = _stripe_event_signed_at(pay_app, make_invoice, control,
                                                     -20 * 60 - signed_before_arrival)
    db.session.add(WebhookDelivery(gateway="stripe", event_id=json.loads(body)["id"], body=body,
                                   body_size=len(body), headers=json.dumps(headers), outcome="received",
                                   received_at=arrived))
    db.session.commit()
    delivery = _deliveries()[-1]
    browser.login(admin.email)
    page = browser.post(f"/deliveries/{delivery.id}/reprocess", follow_redirects=True).get_data(as_text=True)
    if applies:
        assert "Reprocessed: applied" in page, re.findall(r"flash[^>]*>([^<]*)", page)
        assert _money(invoice) == ("paid", invoice.total_minor, 1)
    else:
        assert "Not reprocessed" in page and "does not verify" in page
        assert _money(invoice) == ("open", 0, 0)
