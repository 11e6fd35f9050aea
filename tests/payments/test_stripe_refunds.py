"""The Stripe adapter's refund verbs over HTTP, through the real stripe-python SDK, against the sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import RefundRequest
from tests.payments.test_stripe_adapter import TIMEOUT, failure, fault, gateway, link_request  # noqa: F401 (fixture)


def paid(gateway, control, amount: Money | None = None) -> str:
    """A link paid at the sandbox; its PaymentIntent id, as the portal records the payment."""
    link = gateway.create_link(link_request(amount), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    [payment] = gateway.fetch_link(link.link_id, TIMEOUT).payments
    assert payment.payment_id.startswith("pi_")
    return payment.payment_id


def refund_request(payment_id: str, amount: Money, **extra) -> RefundRequest:
    return RefundRequest(payment_id=payment_id, amount=amount, reference=f"rf-{time.time_ns()}",
                         invoice_number="INV-0042", **extra)


def sandbox_refunds(control) -> list[dict]:
    return control.get("/_sandbox/state")["stripe"]["refunds"]


def test_full_refund(gateway, control):
    pi = paid(gateway, control)
    request = refund_request(pi, Money(246900, "INR"), reason="customer cancelled")
    refund = gateway.create_refund(request, TIMEOUT)
    assert refund.refund_id.startswith("re_") and refund.payment_id == pi
    assert (refund.amount, refund.status, refund.reference) == (Money(246900, "INR"), base.REFUND_SUCCEEDED,
                                                                request.reference)
    assert refund.reason == "customer cancelled"
    [at_stripe] = sandbox_refunds(control)
    assert at_stripe["metadata"] == {"reference": request.reference, "invoice_number": "INV-0042",
                                     "reason": "customer cancelled"}
    again = gateway.create_refund(request, TIMEOUT)  # same reference: Stripe replays the first answer
    assert again.refund_id == refund.refund_id and len(sandbox_refunds(control)) == 1


def test_partial_refunds_and_list(gateway, control):
    pi = paid(gateway, control)
    first = gateway.create_refund(refund_request(pi, Money(1000, "INR")), TIMEOUT)
    second = gateway.create_refund(refund_request(pi, Money(50000, "INR")), TIMEOUT)
    listed = gateway.list_refunds(pi, TIMEOUT)
    assert [(r.refund_id, r.amount.minor) for r in listed] == [(second.refund_id, 50000), (first.refund_id, 1000)]
    assert gateway.list_refunds(paid(gateway, control), TIMEOUT) == []


def test_over_refund_is_rejected_saying_what_is_left(gateway, control):
    pi = paid(gateway, control, Money(11000, "USD"))
    gateway.create_refund(refund_request(pi, Money(1000, "USD")), TIMEOUT)
    error = failure(gateway.create_refund, refund_request(pi, Money(10001, "USD")), TIMEOUT)
    assert (error.kind, error.code, error.status) == (base.REJECTED, "refund_exceeds_payment", 400)
    assert "$100.00" in error.message and error.surely_not_applied
    gateway.create_refund(refund_request(pi, Money(10000, "USD")), TIMEOUT)
    error = failure(gateway.create_refund, refund_request(pi, Money(1, "USD")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "refund_exceeds_payment")  # charge_already_refunded
    assert len(sandbox_refunds(control)) == 2


def test_unrefundable_payments(gateway, control):
    error = failure(gateway.create_refund, refund_request("pi_unknown", Money(100, "INR")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")
    pi = paid(gateway, control)
    control.post("/_sandbox/disputes", {"gateway": "stripe", "payment_id": pi})
    error = failure(gateway.create_refund, refund_request(pi, Money(100, "INR")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")
    assert sandbox_refunds(control) == []


def test_lost_answer_is_found_and_not_made_twice(gateway, control):
    pi = paid(gateway, control)
    request = refund_request(pi, Money(700, "INR"))
    fault(control, "hang", effect=True)
    error = failure(gateway.create_refund, request, 0.5)
    assert error.kind == base.TIMEOUT and not error.surely_not_applied
    fault(control, "ok")
    [made] = sandbox_refunds(control)  # the refund happened; only its answer was lost
    found = gateway.find_refund(request, TIMEOUT)
    assert found is not None and (found.refund_id, found.reference) == (made["id"], request.reference)
    assert len(sandbox_refunds(control)) == 1  # looking it up made none
    assert gateway.find_refund(replace(request, reference="rf-never-sent"), TIMEOUT) is None
    assert len(sandbox_refunds(control)) == 1


def test_pending_refund_is_fetched_until_it_settles(gateway, control):
    pi = paid(gateway, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "stripe", "mode": "pending"})
    refund = gateway.create_refund(refund_request(pi, Money(2500, "INR")), TIMEOUT)
    assert refund.status == base.REFUND_PENDING
    assert gateway.fetch_refund(refund.refund_id, pi, TIMEOUT).status == base.REFUND_PENDING
    control.post("/_sandbox/refunds/settle", {"gateway": "stripe", "id": refund.refund_id, "outcome": "failed"})
    failed = gateway.fetch_refund(refund.refund_id, pi, TIMEOUT)
    assert (failed.status, failed.reason) == (base.REFUND_FAILED, "expired_or_canceled_card")
    assert failure(gateway.fetch_refund, "re_missing", pi, TIMEOUT).kind == base.NOT_FOUND


def test_zero_decimal_amounts_reach_stripe_in_its_units(gateway, control):
    pi = paid(gateway, control, Money.parse("1500", "JPY"))
    refund = gateway.create_refund(refund_request(pi, Money.parse("500", "JPY")), TIMEOUT)
    assert refund.amount == Money.parse("500", "JPY") and sandbox_refunds(control)[0]["amount"] == 500


@pytest.mark.parametrize("mode", ["down", "error"])
def test_refused_connections_and_server_errors_did_not_refund(gateway, control, mode):
    pi = paid(gateway, control)
    fault(control, mode, status=500)
    error = failure(gateway.create_refund, refund_request(pi, Money(100, "INR")), TIMEOUT)
    fault(control, "ok")
    assert error.surely_not_applied and sandbox_refunds(control) == []


def test_find_refund_of_an_unknown_payment_is_none(gateway, control):
    assert gateway.find_refund(refund_request("pi_unknown", Money(100, "INR")), TIMEOUT) is None
    assert failure(gateway.list_refunds, "pi_unknown", TIMEOUT).code == "resource_missing"
