"""Needs attention (issue 10): one list of what staff must act on, each item with what to do next; staff see
it, only admins mark a money problem dealt with; the navigation and Home count the same list."""
import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Invoice, PaymentLink, PaymentMismatch, WebhookDelivery, utcnow
from portal.money import Money
from portal.payments import engine, ledger
from portal.payments.base import GatewayPayment


def _mismatch(invoice, kind="overpaid", detail="paid 4,938.00 of 2,469.00: refund the difference"):
    row = PaymentMismatch(gateway="razorpay", invoice_id=invoice.id, link_id="plink_x", payment_id="pay_x",
                          kind=kind, detail=detail, source="webhook")
    db.session.add(row)
    db.session.commit()
    return row.id


def _resolutions():
    return db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action == "mismatch.resolved"))


def _link(invoice, payment_id, gateway="razorpay"):
    link = PaymentLink(invoice_id=invoice.id, gateway=gateway, reference=f"ref-{payment_id}",
                       link_id=f"plink_{payment_id}", url="https://rzp.example/x", status="created",
                       currency=invoice.currency, amount_minor=invoice.amount_due.minor)
    db.session.add(link)
    db.session.flush()
    return link


def _pay(invoice, payment_id, minor=None):
    """Money arriving through the ledger, as a verified webhook hands it over."""
    invoice = db.session.get(Invoice, invoice.id)
    link = _link(invoice, payment_id)
    outcome = ledger.record_payment(link, GatewayPayment(payment_id, Money(minor or link.amount_minor,
                                                                           invoice.currency)), "webhook")
    db.session.commit()
    return outcome


def _items(browser):
    page = browser.get("/attention/").get_data(as_text=True)
    return page, re.findall(r'<li class="attention-item attention-([a-z_]+)">', page)


def _nav_count(page):
    found = re.search(r'aria-label="Needs attention, (\d+)"', page)
    return int(found.group(1)) if found else 0


# ---- the attack first: staff cannot clear what they see ------------------------------------------------
def test_staff_see_needs_attention_but_cannot_clear_it(signed_in_staff, make_invoice):
    invoice = make_invoice(open_it=True)
    ids = [_mismatch(invoice, kind) for kind in ("overpaid", "paid_void_invoice", "amount")]
    page, kinds = _items(signed_in_staff)
    assert sorted(kinds) == ["overpaid", "paid_void", "wrong_money"]
    assert "Paid while void" in page and "refund the difference" in page
    assert "/resolve" not in page and "Dealt with" not in page  # no button that would only fail
    for mismatch_id in ids:
        response = signed_in_staff.post(f"/attention/mismatches/{mismatch_id}/resolve", token_page="/attention/")
        assert response.status_code == 403
    db.session.expire_all()
    assert all(db.session.get(PaymentMismatch, i).resolved_at is None for i in ids)
    assert _resolutions() == 0
    assert len(_items(signed_in_staff)[1]) == 3


def test_resolving_needs_the_csrf_token(signed_in_admin, make_invoice):
    mismatch_id = _mismatch(make_invoice(open_it=True))
    response = signed_in_admin.client.post(f"/attention/mismatches/{mismatch_id}/resolve", data={})
    assert response.status_code == 400
    assert db.session.get(PaymentMismatch, mismatch_id).resolved_at is None


def test_the_gateways_page_no_longer_lists_or_resolves_mismatches(signed_in_admin, make_invoice):
    mismatch_id = _mismatch(make_invoice(open_it=True))
    page = signed_in_admin.get("/gateways/").get_data(as_text=True)
    assert "refund the difference" not in page and "/resolve" not in page
    assert signed_in_admin.post(f"/gateways/mismatches/{mismatch_id}/resolve").status_code in (404, 405)


def test_an_admin_marks_a_mismatch_dealt_with(signed_in_admin, make_invoice):
    invoice = make_invoice(open_it=True)
    mismatch_id = _mismatch(invoice)
    page = signed_in_admin.get("/attention/").get_data(as_text=True)
    assert f"/attention/mismatches/{mismatch_id}/resolve" in page and "Dealt with" in page
    response = signed_in_admin.post(f"/attention/mismatches/{mismatch_id}/resolve", token_page="/attention/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/attention/")
    assert db.session.get(PaymentMismatch, mismatch_id).resolved_at is not None
    assert _resolutions() == 1
    assert "refund the difference" not in signed_in_admin.get("/attention/").get_data(as_text=True)


# ---- each kind: shown with its advice, gone once dealt with ---------------------------------------------
def test_an_overpaid_invoice_says_how_much_to_refund(signed_in_admin, make_invoice):
    invoice = make_invoice(open_it=True)  # 2 x 1,234.50 = ₹2,469.00
    one, two = _link(invoice, "pay_one"), _link(invoice, "pay_two")  # two links, both paid in full
    for link in (one, two):
        outcome = ledger.record_payment(link, GatewayPayment(f"{link.link_id}-p", Money(2469_00, "INR")), "webhook")
        assert outcome[0] == ledger.APPLIED
    db.session.commit()
    assert db.session.get(Invoice, invoice.id).status == "overpaid"
    page, kinds = _items(signed_in_admin)
    assert kinds == ["overpaid"]
    assert "press “Refund the extra” (admins): it gives ₹2,469.00 back through Razorpay" in page
    assert f'href="/invoices/{invoice.id}"' in page and _nav_count(page) == 1
    [row] = db.session.scalars(db.select(PaymentMismatch)).all()
    signed_in_admin.post(f"/attention/mismatches/{row.id}/resolve", token_page="/attention/")
    page, kinds = _items(signed_in_admin)
    assert kinds == [] and "Nothing needs attention" in page and _nav_count(page) == 0


def test_a_payment_for_a_void_invoice(signed_in_admin, make_invoice, staff):
    from portal.invoices import service

    invoice = make_invoice(open_it=True)
    service.void_invoice(db.session.get(Invoice, invoice.id), staff)
    db.session.commit()
    assert _pay(invoice, "pay_void")[0] == ledger.MISMATCH
    page, kinds = _items(signed_in_admin)
    assert kinds == ["paid_void"] and "press “Refund in full” (admins) to give it back through Razorpay" in page
    [row] = db.session.scalars(db.select(PaymentMismatch)).all()
    signed_in_admin.post(f"/attention/mismatches/{row.id}/resolve", token_page="/attention/")
    assert _items(signed_in_admin)[1] == []


def test_a_wrong_amount_says_nothing_was_recorded(signed_in_admin, make_invoice):
    invoice = make_invoice(open_it=True)
    assert _pay(invoice, "pay_short", 100_00)[0] == ledger.MISMATCH  # takes no part payments
    page, kinds = _items(signed_in_admin)
    assert kinds == ["part_payment"] and "refund it at the gateway" in page
    second = make_invoice(open_it=True)
    link = _link(db.session.get(Invoice, second.id), "pay_eur")
    ledger.record_payment(link, GatewayPayment("pay_eur", Money(2469_00, "EUR")), "webhook")
    db.session.commit()
    page, kinds = _items(signed_in_admin)
    assert sorted(kinds) == ["part_payment", "wrong_money"] and "Wrong currency" in page
    assert "Nothing was recorded" in page and "(pay_eur)" in page
    for row in db.session.scalars(db.select(PaymentMismatch)).all():
        signed_in_admin.post(f"/attention/mismatches/{row.id}/resolve", token_page="/attention/")
    assert _items(signed_in_admin)[1] == [] and _resolutions() == 2


def test_a_gateway_down_while_its_links_are_open(pay_app, signed_in_admin, make_invoice):
    invoice = make_invoice(open_it=True)
    engine.generate_link(invoice, requested="razorpay")  # at the sandbox
    assert _items(signed_in_admin)[1] == []
    signed_in_admin.post("/gateways/razorpay/breaker", {"state": "open"}, token_page="/gateways/")
    page, kinds = _items(signed_in_admin)
    assert kinds == ["gateway_down"]
    assert "Razorpay: Down since" in page and "1 open payment link is at Razorpay." in page
    assert "send those customers the pay page again" in page
    signed_in_admin.post("/gateways/razorpay/breaker", {"state": "auto"}, token_page="/gateways/")
    assert _items(signed_in_admin)[1] == []


def test_a_gateway_down_with_no_open_links_needs_nothing(pay_app, signed_in_admin):
    signed_in_admin.post("/gateways/stripe/breaker", {"state": "open"}, token_page="/gateways/")
    assert _items(signed_in_admin)[1] == []


def test_no_webhook_while_links_are_open_longer_than_the_threshold(pay_app, client, signed_in_admin, make_invoice,
                                                                   control):
    from tests.payments.test_webhooks import _captured_delivery, _post

    pay_app.config["WEBHOOK_SILENCE_HOURS"] = 2
    invoice, link, genuine = _captured_delivery(make_invoice, control)  # paid at Razorpay; webhook not here yet
    assert _items(signed_in_admin)[1] == []  # a link only just made is no sign of anything
    row = db.session.get(PaymentLink, link.id)
    row.created_at = utcnow() - timedelta(hours=3)
    db.session.commit()
    page, kinds = _items(signed_in_admin)
    assert kinds == ["webhook_silence"]
    assert "No verified webhook from Razorpay ever, for more than 2 hours" in page
    assert "payments reconcile" in page and "/deliveries/?gateway=razorpay" in page
    # The webhook arrives (the gateway delivers again): the link is paid and the gateway heard from.
    assert _post(client, "razorpay", genuine["body"].encode(), genuine["headers"]).get_json() == {"status": "applied"}
    assert _items(signed_in_admin)[1] == []


def test_silence_counts_only_verified_webhooks(pay_app, client, signed_in_admin, make_invoice, control):
    pay_app.config["WEBHOOK_SILENCE_HOURS"] = 1
    invoice = make_invoice(open_it=True)
    link = engine.generate_link(invoice, requested="razorpay").link
    db.session.get(PaymentLink, link.id).created_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    client.post("/webhooks/razorpay", data=b'{"event": "payment_link.paid"}',
                headers={"Content-Type": "application/json", "X-Razorpay-Signature": "0" * 64})
    assert _items(signed_in_admin)[1] == ["webhook_silence"]


def test_a_burst_of_rejected_webhooks(pay_app, client, signed_in_admin):
    pay_app.config["WEBHOOK_REJECTED_BURST"] = 3
    for n in range(2):
        client.post("/webhooks/stripe", data=b'{"id": "evt_%d"}' % n,
                    headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})
    assert _items(signed_in_admin)[1] == []
    client.post("/webhooks/stripe", data=b'{"id": "evt_3"}',
                headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})
    page, kinds = _items(signed_in_admin)
    assert kinds == ["rejected_burst"]
    assert "3 deliveries to the Stripe webhook address failed verification" in page
    assert "webhook secret here differs" in page and "/deliveries/?gateway=stripe&amp;outcome=rejected" in page
    # A day later the burst is history.
    for row in db.session.scalars(db.select(WebhookDelivery)):
        row.received_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    assert _items(signed_in_admin)[1] == []


# ---- one count: the list, the navigation badge, Home ----------------------------------------------------
def test_the_navigation_and_home_count_the_same_list(signed_in_staff, make_invoice):
    invoice = make_invoice(open_it=True)
    _mismatch(invoice, "amount", "amount ₹1.00 does not match the link's ₹2,469.00")
    _mismatch(invoice, "paid_void_invoice", "₹2,469.00 arrived for a void invoice: refund it")
    page, kinds = _items(signed_in_staff)
    assert len(kinds) == 2 and _nav_count(page) == 2
    home = signed_in_staff.get("/").get_data(as_text=True)
    assert _nav_count(home) == 2
    assert re.search(r'<a href="/attention/" data-figure="attention"><strong>2</strong>\s*things need', home)
    invoices = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert '<span class="nav-count" aria-hidden="true">2</span>' in invoices


def test_nothing_to_count_shows_no_badge(signed_in_staff):
    page = signed_in_staff.get("/invoices/").get_data(as_text=True)
    assert ">Needs attention</a>" in page and "nav-count" not in page
