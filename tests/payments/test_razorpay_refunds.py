"""The Razorpay adapter's refund verbs over HTTP, through the real razorpay SDK, against the sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import RefundRequest
from tests.payments.test_razorpay_adapter import TIMEOUT_S, failure, fault, gateway, link_request  # noqa: F401


def paid(gateway, control, amount: str = "2469.00", currency: str = "INR") -> str:
    """A link paid at the sandbox; its payment id (pay_...), as the portal records the payment."""
    link = gateway.create_link(link_request(amount, currency), TIMEOUT_S)
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id})
    [payment] = gateway.fetch_link(link.link_id, TIMEOUT_S).payments
    assert payment.payment_id.startswith("pay_")
    return payment.payment_id


def refund_request(payment_id: str, amount: Money, **extra) -> RefundRequest:
    return RefundRequest(payment_id=payment_id, amount=amount, reference=f"rf-{time.time_ns()}",
                         invoice_number="INV-0042", **extra)


def sandbox_refunds(control) -> list[dict]:
    return control.get("/_sandbox/state")["razorpay"]["refunds"]


def refund_mode(control, mode: str, settle_ms: int = 300):
    control.post("/_sandbox/refunds/mode", {"gateway": "razorpay", "mode": mode, "settle_ms": settle_ms})


def test_full_refund_is_pending_then_processed(gateway, control):
    pay_id = paid(gateway, control)
    refund_mode(control, "settle", 200)
    request = refund_request(pay_id, Money(246900, "INR"), reason="customer cancelled")
    refund = gateway.create_refund(request, TIMEOUT_S)
    assert refund.refund_id.startswith("rfnd_") and refund.payment_id == pay_id
    assert (refund.amount, refund.status, refund.reference) == (Money(246900, "INR"), base.REFUND_PENDING,
                                                                request.reference)
    assert refund.reason == "customer cancelled"
    [at_razorpay] = sandbox_refunds(control)
    assert (at_razorpay["receipt"], at_razorpay["speed_requested"]) == (request.reference, "normal")
    assert at_razorpay["notes"] == {"reference": request.reference, "invoice_number": "INV-0042",
                                    "reason": "customer cancelled"}
    deadline = time.time() + 5
    while gateway.fetch_refund(refund.refund_id, pay_id, TIMEOUT_S).status == base.REFUND_PENDING:
        assert time.time() < deadline, "the refund never settled"
        time.sleep(0.05)
    assert gateway.fetch_refund(refund.refund_id, pay_id, TIMEOUT_S).status == base.REFUND_SUCCEEDED


def test_partial_refunds_and_list(gateway, control):
    pay_id = paid(gateway, control)
    refund_mode(control, "instant")
    first = gateway.create_refund(refund_request(pay_id, Money(1000, "INR")), TIMEOUT_S)
    second = gateway.create_refund(refund_request(pay_id, Money(50000, "INR")), TIMEOUT_S)
    assert (first.status, second.status) == (base.REFUND_SUCCEEDED, base.REFUND_SUCCEEDED)
    listed = gateway.list_refunds(pay_id, TIMEOUT_S)
    assert [(r.refund_id, r.amount.minor) for r in listed] == [(second.refund_id, 50000), (first.refund_id, 1000)]
    assert gateway.list_refunds(paid(gateway, control), TIMEOUT_S) == []


def test_more_than_a_page_of_refunds_is_listed_whole(gateway, control):
    pay_id = paid(gateway, control, "500.00")
    refund_mode(control, "instant")
    for _ in range(103):
        control.post("/_sandbox/refunds", {"gateway": "razorpay", "payment_id": pay_id, "amount_minor": 100})
    listed = gateway.list_refunds(pay_id, TIMEOUT_S)
    assert len(listed) == 103 and len({r.refund_id for r in listed}) == 103


def test_over_refund_is_rejected_with_razorpays_words(gateway, control):
    pay_id = paid(gateway, control, "110.00")
    gateway.create_refund(refund_request(pay_id, Money(1000, "INR")), TIMEOUT_S)
    error = failure(gateway.create_refund, refund_request(pay_id, Money(10001, "INR")), TIMEOUT_S)
    assert (error.kind, error.code, error.status) == (base.REJECTED, "refund_exceeds_payment", 400)
    assert "greater than the unrefunded amount" in error.message and error.surely_not_applied
    error = failure(gateway.create_refund, refund_request(pay_id, Money(11001, "INR")), TIMEOUT_S)
    assert (error.code, "greater than amount captured" in error.message) == ("refund_exceeds_payment", True)
    gateway.create_refund(refund_request(pay_id, Money(10000, "INR")), TIMEOUT_S)
    error = failure(gateway.create_refund, refund_request(pay_id, Money(100, "INR")), TIMEOUT_S)
    assert (error.kind, error.code) == (base.REJECTED, "refund_exceeds_payment")  # fully refunded already
    assert len(sandbox_refunds(control)) == 2


def test_unrefundable_payments(gateway, control):
    error = failure(gateway.create_refund, refund_request("pay_unknown00000", Money(100, "INR")), TIMEOUT_S)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")
    pay_id = paid(gateway, control)
    control.post("/_sandbox/disputes", {"gateway": "razorpay", "payment_id": pay_id})
    error = failure(gateway.create_refund, refund_request(pay_id, Money(100, "INR")), TIMEOUT_S)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")
    assert "ongoing dispute" in error.message
    assert sandbox_refunds(control) == []


def test_lost_answer_is_found_and_not_made_twice(gateway, control):
    pay_id = paid(gateway, control)
    request = refund_request(pay_id, Money(700, "INR"))
    fault(control, "hang", effect=True)
    error = failure(gateway.create_refund, request, 0.5)
    assert error.kind == base.TIMEOUT and not error.surely_not_applied
    fault(control, "ok")
    [made] = sandbox_refunds(control)  # the refund happened; only its answer was lost
    found = gateway.find_refund(request, TIMEOUT_S)
    assert found is not None and (found.refund_id, found.reference) == (made["id"], request.reference)
    assert len(sandbox_refunds(control)) == 1  # looking it up made none
    assert gateway.find_refund(replace(request, reference="rf-never-sent"), TIMEOUT_S) is None
    assert len(sandbox_refunds(control)) == 1


def test_find_refund_of_an_unknown_payment_is_none(gateway, control):
    assert gateway.find_refund(refund_request("pay_unknown00000", Money(100, "INR")), TIMEOUT_S) is None
    assert failure(gateway.list_refunds, "pay_unknown00000", TIMEOUT_S).kind == base.NOT_FOUND


def test_pending_refund_is_fetched_until_it_fails(gateway, control):
    pay_id = paid(gateway, control)
    refund_mode(control, "pending")
    refund = gateway.create_refund(refund_request(pay_id, Money(2500, "INR")), TIMEOUT_S)
    assert refund.status == base.REFUND_PENDING
    assert gateway.fetch_refund(refund.refund_id, pay_id, TIMEOUT_S).status == base.REFUND_PENDING
    control.post("/_sandbox/refunds/settle", {"gateway": "razorpay", "id": refund.refund_id, "outcome": "failed"})
    failed = gateway.fetch_refund(refund.refund_id, pay_id, TIMEOUT_S)
    assert (failed.status, failed.amount) == (base.REFUND_FAILED, Money(2500, "INR"))
    assert failure(gateway.fetch_refund, "rfnd_missing00000", pay_id, TIMEOUT_S).kind == base.NOT_FOUND
    again = gateway.create_refund(refund_request(pay_id, Money(246900, "INR")), TIMEOUT_S)  # all of it is back
    assert again.amount == Money(246900, "INR")


def test_zero_decimal_amounts_reach_razorpay_in_its_units(gateway, control):
    pay_id = paid(gateway, control, "1500", "JPY")
    refund = gateway.create_refund(refund_request(pay_id, Money.parse("500", "JPY")), TIMEOUT_S)
    assert refund.amount == Money.parse("500", "JPY") and sandbox_refunds(control)[0]["amount"] == 500


@pytest.mark.parametrize("mode", ["down", "error"])
def test_refused_connections_and_server_errors_did_not_refund(gateway, control, mode):
    pay_id = paid(gateway, control)
    fault(control, mode, status=500)
    error = failure(gateway.create_refund, refund_request(pay_id, Money(100, "INR")), TIMEOUT_S)
    fault(control, "ok")
    assert error.surely_not_applied and sandbox_refunds(control) == []
