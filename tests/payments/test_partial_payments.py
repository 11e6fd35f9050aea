"""Less money than a link asked for, on an invoice that takes no partial payments, is a mismatch for staff,
never a part payment (issue 8, item 6). Signed deliveries through the real endpoint, and reconciliation."""
import hashlib
import hmac
import json

import time

import pytest

from portal.extensions import db
from portal.models import Invoice, Payment, PaymentLink, PaymentMismatch, WebhookDelivery
from portal.money import Money
from portal.payments import engine, ledger
from portal.payments.base import GatewayLink, GatewayPayment
from tests.payments.test_webhooks import _post, deliveries

# 500.00 INR: the review's case was ₹1 of ₹500.
ITEMS = [{"description": "Design work", "quantity": 1, "unit_price": "500.00"}]


def _captured_delivery(make_invoice, control, **extra):
    """A genuine signed payment_link.paid for a 500.00 INR invoice, captured at the sandbox (not applied)."""
    control.post("/_sandbox/webhooks", {"gateway": "razorpay", "url": "http://127.0.0.1:9/x"})
    invoice = make_invoice(currency="INR", items=ITEMS, open_it=True, **extra)
    link = engine.generate_link(invoice, requested="razorpay").link
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id})
    for _ in range(100):
        found = deliveries(control, "razorpay", "payment_link.paid")
        if found and found[0]["headers"]:
            return invoice, link, found[0]
        time.sleep(0.05)
    raise AssertionError("no delivery captured")


def _partially_paid(pay_app, delivery, amount_minor: int, event_id: str = "evt_partial_1"):
    """The genuine payment_link.paid re-signed with the webhook secret as payment_link.partially_paid."""
    event = json.loads(delivery["body"])
    event["event"] = "payment_link.partially_paid"
    event["payload"]["payment"]["entity"]["amount"] = amount_minor
    event["payload"]["payment"]["entity"]["id"] = "pay_partial_" + event_id[-6:]
    link = event["payload"]["payment_link"]["entity"]
    link.update(status="partially_paid", amount_paid=amount_minor)
    body = json.dumps(event).encode()
    signature = hmac.new(pay_app.config["RAZORPAY_WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": event_id}


def test_a_signed_part_payment_on_an_invoice_without_partials_is_a_mismatch(pay_app, client, make_invoice, control):
    invoice, link, delivery = _captured_delivery(make_invoice, control)
    assert not invoice.accept_partial and invoice.total_minor == 50000
    body, headers = _partially_paid(pay_app, delivery, 100)  # ₹1.00
    response = _post(client, "razorpay", body, headers)
    assert response.status_code == 200 and response.get_json() == {"status": "mismatch"}
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "open" and invoice.amount_paid_minor == 0
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0
    assert db.session.get(PaymentLink, link.id).amount_paid_minor == 0
    [mismatch] = db.session.scalars(db.select(PaymentMismatch)).all()
    assert (mismatch.invoice_id, mismatch.kind, mismatch.resolved_at) == (invoice.id, "partial_not_accepted", None)
    assert "₹1.00" in mismatch.detail or "1.00" in mismatch.detail
    assert db.session.scalars(db.select(WebhookDelivery)).one().outcome == "mismatch"


def test_needs_attention_lists_the_refused_part_payment(pay_app, client, make_invoice, control, signed_in_staff):
    invoice, _, delivery = _captured_delivery(make_invoice, control)
    _post(client, "razorpay", *_partially_paid(pay_app, delivery, 100))
    page = signed_in_staff.get("/attention/").get_data(as_text=True)
    assert "Part payment for" in page and invoice.number in page
    assert "Either refund it at the gateway, or allow part payments on the invoice" in page


def test_the_same_part_payment_is_applied_when_the_invoice_takes_partials(pay_app, client, make_invoice, control):
    invoice, _, delivery = _captured_delivery(make_invoice, control, accept_partial=True)
    response = _post(client, "razorpay", *_partially_paid(pay_app, delivery, 100))
    assert response.get_json() == {"status": "applied"}
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "partially_paid" and invoice.amount_paid_minor == 100
    assert db.session.scalar(db.select(db.func.count(PaymentMismatch.id))) == 0


@pytest.mark.parametrize("remote_status", ["partially_paid", "paid"])
def test_reconciliation_and_return_pages_refuse_a_short_payment_too(app, make_invoice, remote_status):
    """The other doors (return page, reconciliation: apply_link_state) for any gateway: Stripe and PayPal
    report one payment for the whole amount; less than asked is never a part payment without partials."""
    invoice = make_invoice(currency="USD", items=[{"description": "x", "quantity": 1, "unit_price": "500.00"}],
                           open_it=True)
    row = PaymentLink(invoice_id=invoice.id, gateway="stripe", reference=f"inv{invoice.id}-st-1", link_id="cs_1",
                      status="created", currency="USD", amount_minor=50000)
    db.session.add(row)
    db.session.commit()
    remote = GatewayLink(gateway="stripe", link_id="cs_1", url=None, status=remote_status,
                         amount=Money(50000, "USD"), amount_paid=Money(100, "USD"), reference=row.reference,
                         expires_at=None, payments=(GatewayPayment("pi_short", Money(100, "USD")),))
    for _ in range(2):  # reconciliation runs again and again while the link stays open
        [(outcome, _)] = ledger.apply_link_state(row, remote, "reconcile")
        db.session.commit()
        assert outcome == ledger.MISMATCH
    assert db.session.get(Invoice, invoice.id).status == "open"
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0
    assert db.session.scalars(db.select(PaymentMismatch)).one().invoice_id == invoice.id
