"""How much database work a webhook costs, counted with SQLAlchemy's cursor events, on SQLite and PostgreSQL.

Upper bounds, not timings: a verified delivery is stored, deduplicated and applied in one transaction of a
handful of statements; a delivery that fails verification is answered after one INSERT and no other query."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from portal.extensions import db
from portal.models import Invoice, Payment, ProcessedEvent, WebhookDelivery
from tests.payments.test_click_statements import explain, statements
from tests.payments.test_webhooks import _captured_delivery, _post

EVENT = {"razorpay": "payment_link.paid", "stripe": "checkout.session.completed",
         "paypal": "CHECKOUT.ORDER.APPROVED"}  # PayPal: the approval queues our capture (its payment is the capture's)
OUTCOME = {"razorpay": "applied", "stripe": "applied", "paypal": "queued"}


@pytest.mark.parametrize("gateway", ["razorpay", "stripe", "paypal"])
def test_a_verified_payment_is_one_transaction_of_a_handful_of_statements(pay_app, client, make_invoice, control,
                                                                          gateway):
    invoice, _, delivery = _captured_delivery(make_invoice, control, gateway, EVENT[gateway])
    body, headers, invoice_id = delivery["body"].encode(), delivery["headers"], invoice.id
    _post(client, gateway, b"{}", {})  # warm: the first request of a process loads what every later one reuses
    db.session.remove()
    with statements() as sent:
        response = _post(client, gateway, body, headers)
    assert response.get_json() == {"status": OUTCOME[gateway]}, response.get_data(as_text=True)
    if os.environ.get("WEBHOOK_STATEMENTS_PRINT"):
        print(gateway, len(sent), explain(sent))
    assert sent.count("COMMIT") == 1, explain(sent)
    # 10 before issue 13; the customer's receipt adds its outbox row and the merchant's name it is written in.
    assert len([s for s in sent if s != "COMMIT"]) <= 12, explain(sent)
    [stored] = db.session.scalars(db.select(WebhookDelivery).where(WebhookDelivery.verified.is_(True))).all()
    assert stored.outcome == OUTCOME[gateway] and stored.body == body and stored.invoice_id == invoice_id
    if gateway != "paypal":
        assert db.session.get(Invoice, invoice_id).status == "paid"
        assert db.session.scalar(db.select(db.func.count(Payment.id))) == 1



@pytest.mark.parametrize("gateway", ["razorpay", "stripe", "paypal"])
def test_a_bad_signature_is_answered_after_one_insert(pay_app, client, gateway):
    _post(client, gateway, b"{}", {})
    db.session.remove()
    body = b'{"id": "evt_forged", "type": "checkout.session.completed", "event": "payment_link.paid"}'
    with statements() as sent:
        response = _post(client, gateway, body, {"Stripe-Signature": "t=1,v1=00", "X-Razorpay-Signature": "00"})
    assert response.status_code == 400
    assert [s.split(" (")[0] for s in sent] == ["INSERT INTO webhook_deliveries", "COMMIT"], explain(sent)
    stored = db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id.desc())).first()
    assert (stored.outcome, stored.verified, stored.body) == ("rejected", False, body)


PAUSE_PAYMENTS = {
    "sqlite": ["CREATE TRIGGER pause_payments BEFORE INSERT ON payments BEGIN SELECT RAISE(ABORT, 'payments paused'); END"],
    "postgresql": ["CREATE FUNCTION pause_payments() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'payments paused'; END $$ "
                   "LANGUAGE plpgsql",
                   "CREATE TRIGGER pause_payments BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION pause_payments()"]}
RESUME_PAYMENTS = {"sqlite": ["DROP TRIGGER pause_payments"],
                   "postgresql": ["DROP TRIGGER pause_payments ON payments", "DROP FUNCTION pause_payments()"]}


def _run(statements_by_dialect):
    for sql in statements_by_dialect[db.engine.dialect.name]:
        db.session.execute(text(sql))
    db.session.commit()


def test_a_delivery_that_fails_to_apply_is_kept_and_applies_when_sent_again(pay_app, client, make_invoice, control):
    """Nothing a gateway gave us is lost: when applying fails (here the database refuses payments for a
    moment), the delivery stays on record as failed, the gateway gets a 500 and sends it again, and the event
    is not claimed, so the next delivery applies it."""
    invoice, _, delivery = _captured_delivery(make_invoice, control)
    body, headers = delivery["body"].encode(), delivery["headers"]
    _run(PAUSE_PAYMENTS)
    try:
        first = _post(client, "razorpay", body, headers)
    finally:
        db.session.rollback()
        _run(RESUME_PAYMENTS)
    assert first.status_code == 500
    [kept] = db.session.scalars(db.select(WebhookDelivery)).all()
    assert (kept.outcome, kept.verified, kept.body) == ("failed", True, body) and "payments paused" in kept.detail
    assert db.session.scalar(db.select(db.func.count()).select_from(ProcessedEvent)) == 0
    assert db.session.get(Invoice, invoice.id).status == "open"
    again = _post(client, "razorpay", body, headers)
    assert again.get_json() == {"status": "applied"}
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "paid"
