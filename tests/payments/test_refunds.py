"""Money back through each gateway, exactly once (issue 12).

Refunds asked for here go through the official SDKs (PayPal: its REST API) to the sandbox; refunds and disputes
made at a gateway's dashboard arrive as the gateway's signed webhooks at the portal served on a real port.
Nothing of ours is mocked on the way."""
from __future__ import annotations

import re
import threading
import time

import pytest
import requests

from portal import jobs
from portal.extensions import db
from portal.models import AuditEvent, Dispute, GatewayAttempt, Invoice, Payment, PaymentMismatch, Refund
from portal.money import Money
from portal.payments import engine, refunds
from tests.conftest import PASSWORD
from tests.payments.test_webhooks import deliveries, hooked, new_link, pay, wait_for  # noqa: F401 (fixture)

GATEWAYS = ["razorpay", "stripe", "paypal"]
REFUND_EVENTS = re.compile(r"refund|REFUND|REVERSED")
DISPUTE_EVENTS = re.compile(r"dispute|DISPUTE")


def paid(make_invoice, control, gateway, **extra) -> tuple[Invoice, Payment]:
    """An invoice paid in full at `gateway`, its payment recorded from the gateway's webhook."""
    invoice, link = new_link(make_invoice, gateway, **extra)
    pay(control, link)  # PayPal: the buyer approves, our capture job takes the money
    assert wait_for(lambda: db.session.get(Invoice, invoice.id).status == "paid")
    invoice = db.session.get(Invoice, invoice.id)
    [payment] = invoice.payments
    return invoice, payment


def gateway_refunds(control, gateway: str) -> list[dict]:
    """Every refund the sandbox holds for a gateway, whatever it files them under."""
    state = control.get("/_sandbox/state")[gateway]
    return list(state["refunds"].values()) if isinstance(state["refunds"], dict) else state["refunds"]


def refund_rows() -> list[Refund]:
    db.session.expire_all()
    return db.session.scalars(db.select(Refund).order_by(Refund.id)).all()


def settled(row_id: int) -> bool:
    return db.session.get(Refund, row_id).status in ("succeeded", "failed")


# ---- asked for here ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_full_refund_at_each_gateway_refunds_the_payment_and_the_invoice(hooked, make_invoice, control, admin,
                                                                           gateway):
    invoice, payment = paid(make_invoice, control, gateway)
    row, made = refunds.request_refund(payment.id, payment.amount, "customer cancelled", admin)
    assert made and row.refund_id
    assert wait_for(lambda: settled(row.id)), row.status  # Razorpay: pending, then refund.processed
    row = db.session.get(Refund, row.id)
    assert (row.status, row.amount_minor, row.reason) == ("succeeded", payment.amount_minor, "customer cancelled")
    payment, invoice = db.session.get(Payment, payment.id), db.session.get(Invoice, invoice.id)
    assert (payment.status, payment.amount_refunded_minor) == ("refunded", payment.amount_minor)
    assert (invoice.status, invoice.amount_refunded_minor, invoice.collected_net.minor) == (
        "refunded", invoice.total_minor, 0)
    [at_gateway] = gateway_refunds(control, gateway)
    assert at_gateway["id"] == row.refund_id
    assert refunds.why_not_refundable(payment) == "Nothing is left to refund on this payment."


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_partial_refund_leaves_the_invoice_paid_with_less_kept(hooked, make_invoice, control, admin, api, gateway):
    invoice, payment = paid(make_invoice, control, gateway)
    part = Money(1000, payment.currency)  # 10.00
    row, _ = refunds.request_refund(payment.id, part, "", admin)
    assert wait_for(lambda: settled(row.id))
    payment, invoice = db.session.get(Payment, payment.id), db.session.get(Invoice, invoice.id)
    assert (payment.status, payment.amount_refunded_minor) == ("partially_refunded", 1000)
    assert (invoice.status, invoice.amount_refunded_minor) == ("paid", 1000)
    assert invoice.collected_net.minor == invoice.total_minor - 1000
    assert invoice.amount_due.minor == 0  # a refund never asks the customer for money again
    assert refunds.refundable(payment).minor == payment.amount_minor - 1000
    audit = [e.action for e in AuditEvent.for_subject("invoice", invoice.id)]
    assert "invoice.refund_requested" in audit and "invoice.refund_succeeded" in audit
    stats = api.get("/payments/statistics").get_json()  # counted apart: collected, refunded, net
    currency = payment.currency
    assert stats["collected_minor"][currency] == payment.amount_minor
    assert stats["refunded_minor"][currency] == 1000 and stats["refunds"] == 1
    assert stats["net_minor"][currency] == payment.amount_minor - 1000
    assert stats["by_gateway"][gateway]["refunded"] == {currency: "10.00"}


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_more_than_is_left_is_refused_with_no_gateway_call(hooked, make_invoice, control, admin, gateway):
    invoice, payment = paid(make_invoice, control, gateway)
    row, _ = refunds.request_refund(payment.id, Money(1000, payment.currency), "", admin)
    assert wait_for(lambda: settled(row.id))
    calls_before = db.session.scalar(db.select(db.func.count(GatewayAttempt.id)))
    left = payment.amount_minor - 1000
    with pytest.raises(refunds.RefundRefused) as refused:
        refunds.request_refund(payment.id, Money(left + 1, payment.currency), "", admin)
    assert refused.value.code == "refund_exceeds_payment"
    assert Money(left, payment.currency).format() in refused.value.message
    assert db.session.scalar(db.select(db.func.count(GatewayAttempt.id))) == calls_before
    assert len(refund_rows()) == 1 and len(gateway_refunds(control, gateway)) == 1


def test_the_gateways_own_refusal_is_shown_and_frees_the_amount(hooked, make_invoice, control, admin):
    """A refund made at Stripe's dashboard whose webhook has not arrived: our check passes, Stripe refuses."""
    invoice, payment = paid(make_invoice, control, "stripe")
    control.post("/_sandbox/webhooks", {"gateway": "stripe", "url": "http://127.0.0.1:9/nowhere"})
    control.post("/_sandbox/refunds", {"gateway": "stripe", "payment_id": payment.payment_id})
    row, _ = refunds.request_refund(payment.id, payment.amount, "", admin)
    assert row.status == "failed" and row.failure_code == "rejected:refund_exceeds_payment"
    assert row.failure  # Stripe's own words
    jobs.run_pending()  # the refusal made us ask Stripe for the payment's refunds: the dashboard one is learnt
    rows = refund_rows()
    assert [(r.source, r.status) for r in rows] == [("portal", "failed"), ("reconcile", "succeeded")]
    assert db.session.get(Invoice, invoice.id).status == "refunded"


def test_ten_concurrent_refund_clicks_make_one_refund(hooked, make_invoice, control, admin):
    """Ten clicks of one rendered form, at once, over real HTTP: one refund at Razorpay, which has no idempotency
    key of its own."""
    invoice, payment = paid(make_invoice, control, "razorpay")
    session = requests.Session()
    login = session.get(f"{hooked}/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
    session.post(f"{hooked}/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    page = session.get(f"{hooked}/invoices/{invoice.id}").text
    form = re.search(r'<form method="post" action="(/invoices/\d+/payments/\d+/refund)".*?</form>', page, re.S)
    assert form, "the admin sees a refund form"
    fields = dict(re.findall(r'name="(csrf_token|request_key)" value="([^"]+)"', form.group(0)))
    fields.update(amount="500.00", reason="goodwill")
    answers, barrier = [], threading.Barrier(10)

    def click():
        barrier.wait()
        answers.append(session.post(hooked + form.group(1), data=fields, allow_redirects=False).status_code)

    threads = [threading.Thread(target=click) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [303] * 10
    [row] = refund_rows()
    assert row.amount_minor == 50000 and row.reason == "goodwill"
    assert len(gateway_refunds(control, "razorpay")) == 1
    assert db.session.scalar(db.select(db.func.count(GatewayAttempt.id)).where(GatewayAttempt.operation == "refund")) == 1


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_refund_whose_answer_is_lost_is_retried_without_refunding_twice(hooked, make_invoice, control, admin,
                                                                          gateway):
    """The gateway makes the refund but the answer never comes back (the connection drops); the retry looks the
    refund up by our reference (Stripe, PayPal: the same idempotency key; Razorpay: its receipt) first."""
    invoice, payment = paid(make_invoice, control, gateway)
    control.post("/_sandbox/faults", {"gateway": gateway, "mode": "hang", "effect": True})
    heal = threading.Timer(0.6, lambda: control.post("/_sandbox/faults", {"gateway": gateway, "mode": "ok"}))
    heal.start()
    try:
        row, _ = refunds.request_refund(payment.id, Money(700, payment.currency), "", admin)
    finally:
        heal.join()
    calls = db.session.scalars(db.select(GatewayAttempt).where(GatewayAttempt.invoice_id == invoice.id,
                                                               GatewayAttempt.operation.in_(("refund", "find_refund")))
                               .order_by(GatewayAttempt.id)).all()
    assert calls[0].operation == "refund" and calls[0].outcome == "failure" and calls[0].error_kind == "timeout"
    assert calls[1].operation == "find_refund" and calls[1].outcome == "success"
    assert row.refund_id
    assert wait_for(lambda: settled(row.id))
    assert len(gateway_refunds(control, gateway)) == 1
    assert db.session.get(Payment, payment.id).amount_refunded_minor == 700


def test_a_refund_still_unconfirmed_after_every_retry_is_confirmed_later_once(hooked, make_invoice, control, admin):
    invoice, payment = paid(make_invoice, control, "razorpay")
    # The answers are lost and so are the webhooks (which would otherwise confirm it): only asking can tell.
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "hang", "effect": True, "webhooks": "off"})
    row, _ = refunds.request_refund(payment.id, Money(700, "INR"), "", admin)
    assert row.status == "requested" and "checking" in row.failure
    assert refunds.refundable(db.session.get(Payment, payment.id)).minor == payment.amount_minor - 700  # held
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "ok", "webhooks": "ok"})
    assert wait_for(lambda: settled(row.id))  # the confirm job finds it by its receipt; then refund.processed
    assert db.session.get(Refund, row.id).status == "succeeded"
    assert len(gateway_refunds(control, "razorpay")) == 1


# ---- made at the gateway, learnt by webhook ------------------------------------------------------------------

def redeliver_all(control, gateway: str, pattern: re.Pattern, times: int = 4) -> int:
    found = [d for d in deliveries(control, gateway) if pattern.search(d["type"])]
    for delivery in found:
        for _ in range(times):
            control.post(f"/_sandbox/deliveries/{delivery['id']}/redeliver")
    return len(found)


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_dashboard_refund_delivered_five_times_is_recorded_once(hooked, make_invoice, control, gateway):
    invoice, payment = paid(make_invoice, control, gateway)
    control.post("/_sandbox/refunds", {"gateway": gateway, "payment_id": payment.payment_id, "amount_minor": 2500,
                                       "reason": "returned at the shop"})
    assert wait_for(lambda: any(r.status == "succeeded" for r in refund_rows()))
    assert redeliver_all(control, gateway, REFUND_EVENTS) >= 1
    time.sleep(0.5)
    wait_for(lambda: False, timeout=1.0)  # let every redelivery land and every job run
    [row] = refund_rows()
    assert (row.status, row.amount_minor, row.source, row.reference) == ("succeeded", 2500, row.source, None)
    assert row.source in ("webhook", "reconcile")
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.amount_refunded_minor) == ("paid", 2500)
    assert db.session.get(Payment, payment.id).status == "partially_refunded"


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_dispute_opened_then_lost_delivered_five_times_is_recorded_once(hooked, make_invoice, control,
                                                                          signed_in_staff, gateway):
    invoice, payment = paid(make_invoice, control, gateway)
    opened = control.post("/_sandbox/disputes", {"gateway": gateway, "payment_id": payment.payment_id})
    dispute_id = opened["id"]
    assert wait_for(lambda: db.session.scalar(db.select(Dispute)) is not None)
    redeliver_all(control, gateway, DISPUTE_EVENTS)
    wait_for(lambda: False, timeout=1.0)
    [row] = db.session.scalars(db.select(Dispute)).all()
    assert row.status in ("open", "under_review") and row.amount_minor == payment.amount_minor
    assert db.session.get(Payment, payment.id).status == "disputed"
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert dispute_id in page and "Dispute" in page
    with pytest.raises(refunds.RefundRefused) as refused:  # a refund now could give the money back twice
        refunds.request_refund(payment.id, Money(100, payment.currency), "", None)
    assert refused.value.code == "payment_disputed"

    control.post("/_sandbox/disputes/close", {"gateway": gateway, "id": dispute_id, "outcome": "lost"})
    assert wait_for(lambda: db.session.scalar(db.select(Dispute.status)) == "lost")
    redeliver_all(control, gateway, DISPUTE_EVENTS)
    wait_for(lambda: False, timeout=1.0)
    [row] = db.session.scalars(db.select(Dispute)).all()
    assert row.status == "lost" and row.closed_at is not None
    payment, invoice = db.session.get(Payment, payment.id), db.session.get(Invoice, invoice.id)
    assert payment.status == "charged_back"
    assert invoice.amount_charged_back_minor == payment.amount_minor and invoice.collected_net.minor == 0
    assert refunds.refundable(payment).minor == 0  # lost money cannot be refunded again


# ---- the one-click offers ------------------------------------------------------------------------------------

def _form(html: str, button_id_or_text: str) -> tuple[str, dict]:
    for form in re.findall(r'<form method="post" action="([^"]+)"(.*?)</form>', html, re.S):
        if button_id_or_text in form[1]:
            return form[0], dict(re.findall(r'name="(\w+)" value="([^"]*)"', form[1]))
    raise AssertionError(f"no form with {button_id_or_text!r}")


def test_refund_the_extra_leaves_an_overpaid_invoice_paid(hooked, make_invoice, control, signed_in_admin):
    invoice = make_invoice(currency="INR", open_it=True)  # 2,469.00
    stripe_link = engine.generate_link(invoice, requested="stripe").link
    razorpay_link = engine.generate_link(invoice, requested="razorpay").link
    pay(control, stripe_link)
    pay(control, razorpay_link)  # both live at once: paid twice
    assert wait_for(lambda: db.session.get(Invoice, invoice.id).status == "overpaid", run_jobs=False)
    page = signed_in_admin.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Refund the extra ₹2,469.00" in page
    action, fields = _form(page, 'id="refund-extra"')
    latest = db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)
                                .order_by(Payment.id.desc())).first()
    assert action.endswith(f"/payments/{latest.id}/refund") and fields["amount"] == "2469.00"
    response = signed_in_admin.client.post(action, data=fields)
    assert response.status_code == 303
    assert wait_for(lambda: db.session.get(Invoice, invoice.id).status == "paid")
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.amount_paid_minor, invoice.amount_refunded_minor, invoice.collected_net.minor) == (
        2 * 246900, 246900, 246900)
    assert db.session.scalar(db.select(PaymentMismatch).where(PaymentMismatch.kind == "overpaid")).resolved_at
    assert "Refund the extra" not in signed_in_admin.get(f"/invoices/{invoice.id}").get_data(as_text=True)


def test_refund_in_full_gives_back_money_paid_on_a_void_invoice(hooked, make_invoice, control, signed_in_admin):
    invoice, link = new_link(make_invoice, "stripe")
    invoice.void()
    db.session.commit()
    pay(control, link)
    assert wait_for(lambda: db.session.scalar(db.select(Payment)) is not None)
    page = signed_in_admin.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    action, fields = _form(page, "Refund in full")
    assert signed_in_admin.client.post(action, data=fields).status_code == 303
    [payment] = db.session.scalars(db.select(Payment)).all()
    assert wait_for(lambda: db.session.get(Payment, payment.id).status == "refunded")
    assert db.session.get(Invoice, invoice.id).status == "void"
    assert db.session.scalar(db.select(PaymentMismatch).where(
        PaymentMismatch.kind == "paid_void_invoice")).resolved_at is not None


def test_staff_see_refunds_but_cannot_make_them(hooked, make_invoice, control, admin, signed_in_staff):
    invoice, payment = paid(make_invoice, control, "stripe")
    refunds.request_refund(payment.id, Money(1000, payment.currency), "damaged", admin)
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "damaged" in page and "Only admins can refund payments." in page and "Refund this payment" not in page
    response = signed_in_staff.post(f"/invoices/{invoice.id}/payments/{payment.id}/refund",
                                    {"amount": "1.00", "request_key": "x"}, token_page=f"/invoices/{invoice.id}")
    assert response.status_code == 403 and len(refund_rows()) == 1


# ---- the JSON API ----------------------------------------------------------------------------------------

def test_the_api_refunds_once_per_idempotency_key_and_says_why_not(hooked, make_invoice, control, admin_api, api):
    invoice, payment = paid(make_invoice, control, "stripe")
    path = f"/payments/{payment.id}/refunds"
    assert api.post(path, json={"amount": "1.00"}).status_code == 403  # staff
    first = admin_api.post(path, json={"amount": "10.00", "reason": "late delivery"},
                           headers={"Idempotency-Key": "order-42-refund"})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["amount"], body["amount_minor"], body["currency"], body["status"], body["payment_id"]) == (
        "10.00", 1000, "USD", "succeeded", payment.id)
    assert body["refund_id"].startswith("re_") and body["gateway"] == "stripe"
    again = admin_api.post(path, json={"amount": "10.00", "reason": "late delivery"},
                           headers={"Idempotency-Key": "order-42-refund"})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    other = admin_api.post(path, json={"amount": "11.00"}, headers={"Idempotency-Key": "order-42-refund"})
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert len(gateway_refunds(control, "stripe")) == 1

    too_much = admin_api.post(path, json={"amount": "110.01"})
    assert too_much.status_code == 422
    assert too_much.get_json()["error"]["code"] == "refund_exceeds_payment"
    assert "$110.00" in too_much.get_json()["error"]["message"]
    for bad in ({"amount": 10.5}, {"amount": "ten"}, {"amount": "1.001"}, {"amount": "-1.00"}, {"amount": "0"},
                {"amount": "1.00", "extra": 1}, {"reason": ["x"]}):
        response = admin_api.post(path, json=bad)
        assert response.status_code == 422, (bad, response.get_json())
    assert admin_api.post(path, data="not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert admin_api.post("/payments/999999/refunds", json={"amount": "1.00"}).status_code == 404
    assert len(gateway_refunds(control, "stripe")) == 1 and len(refund_rows()) == 1

    listed = admin_api.get(path).get_json()["items"]
    assert [r["id"] for r in listed] == [body["id"]]
    shown = api.get(f"/invoices/{invoice.id}").get_json()
    assert shown["payments"][0]["id"] == payment.id
    assert (shown["payments"][0]["status"], shown["payments"][0]["amount_refunded_minor"]) == ("partially_refunded", 1000)
    assert (shown["status"], shown["amount_refunded_minor"], shown["collected_net"]) == ("paid", 1000, "110.00")

    rest = admin_api.post(path, json={})  # no amount: all that is left
    assert rest.status_code == 201 and rest.get_json()["amount"] == "110.00"
    assert api.get(f"/invoices/{invoice.id}").get_json()["status"] == "refunded"


@pytest.mark.parametrize("gateway, outcome", [("paypal", "failed"), ("razorpay", "succeeded"), ("stripe", "succeeded")])
def test_a_pending_refund_is_followed_to_its_end_by_reconciliation(hooked, make_invoice, control, admin, runner,
                                                                   gateway, outcome):
    """PayPal sends no webhook when a refund fails, and any webhook can be lost: `payments reconcile` asks."""
    invoice, payment = paid(make_invoice, control, gateway)
    control.post("/_sandbox/refunds/mode", {"gateway": gateway, "mode": "pending"})
    row, _ = refunds.request_refund(payment.id, Money(1500, payment.currency), "", admin)
    assert row.status == "pending" and row.refund_id
    control.post("/_sandbox/faults", {"gateway": gateway, "webhooks": "off"})
    control.post("/_sandbox/refunds/settle", {"gateway": gateway, "id": row.refund_id, "outcome": outcome})
    assert db.session.get(Refund, row.id).status == "pending"
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert f"refund {row.refund_id}: refund {row.refund_id} {outcome}" in result.output
    db.session.expire_all()
    assert db.session.get(Refund, row.id).status == outcome
    payment = db.session.get(Payment, payment.id)
    refunded = 1500 if outcome == "succeeded" else 0
    assert payment.amount_refunded_minor == refunded
    assert refunds.refundable(payment).minor == payment.amount_minor - refunded  # a failed one frees its amount
