"""The PayPal adapter's refund verbs over HTTP (PayPal's REST API, as the adapter speaks it) against the sandbox."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, RefundRequest
from tests.payments.test_paypal_adapter import (TIMEOUT, calls, clock, fault, gateway, link_request,  # noqa: F401
                                                settings)


def paid(gateway, control, minor: int = 246900, currency: str = "USD") -> str:
    """A link paid and captured at the sandbox; its capture id, as the portal records the payment."""
    link = gateway.create_link(link_request(minor, currency), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id, "capture": True})
    [payment] = gateway.fetch_link(link.link_id, TIMEOUT).payments
    return payment.payment_id


def refund_request(payment_id: str, amount: Money, **extra) -> RefundRequest:
    return RefundRequest(payment_id=payment_id, amount=amount, reference=f"hp_rf_{time.time_ns()}",
                         invoice_number="INV-0042", **extra)


def failure(verb, *args) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        verb(*args)
    return info.value


def sandbox_refunds(control) -> list[dict]:
    return control.get("/_sandbox/state")["paypal"]["refunds"]


def capture_status(gateway, capture_id: str) -> str:
    return gateway.fetch_capture(capture_id, TIMEOUT)["status"]


def test_full_refund(gateway, control):
    capture_id = paid(gateway, control)
    request = refund_request(capture_id, Money(246900, "USD"), reason="customer cancelled")
    refund = gateway.create_refund(request, TIMEOUT)
    assert (refund.gateway, refund.payment_id, refund.amount, refund.status, refund.reference, refund.reason) == (
        "paypal", capture_id, Money(246900, "USD"), base.REFUND_SUCCEEDED, request.reference, "customer cancelled")
    [at_paypal] = sandbox_refunds(control)
    assert (at_paypal["id"], at_paypal["invoice_id"], at_paypal["amount"]) == (
        refund.refund_id, request.reference, {"currency_code": "USD", "value": "2469.00"})
    assert capture_status(gateway, capture_id) == "REFUNDED"
    again = gateway.create_refund(request, TIMEOUT)  # same PayPal-Request-Id: the first refund, not a second
    assert again.refund_id == refund.refund_id and len(sandbox_refunds(control)) == 1


def test_partial_refunds(gateway, control):
    capture_id = paid(gateway, control, 1500, "JPY")
    first = gateway.create_refund(refund_request(capture_id, Money(500, "JPY")), TIMEOUT)
    assert first.amount == Money(500, "JPY") and sandbox_refunds(control)[0]["amount"]["value"] == "500"
    assert capture_status(gateway, capture_id) == "PARTIALLY_REFUNDED"
    gateway.create_refund(refund_request(capture_id, Money(1000, "JPY")), TIMEOUT)
    assert capture_status(gateway, capture_id) == "REFUNDED"
    assert gateway.list_refunds(capture_id, TIMEOUT) is None  # PayPal cannot list a capture's refunds


def test_over_refund_is_rejected(gateway, control):
    capture_id = paid(gateway, control, 11000)
    gateway.create_refund(refund_request(capture_id, Money(1000, "USD")), TIMEOUT)
    error = failure(gateway.create_refund, refund_request(capture_id, Money(10001, "USD")), TIMEOUT)
    assert (error.kind, error.code, error.status) == (base.REJECTED, "refund_exceeds_payment", 422)
    assert "REFUND_AMOUNT_EXCEEDED" in error.message and error.surely_not_applied
    gateway.create_refund(refund_request(capture_id, Money(10000, "USD")), TIMEOUT)
    error = failure(gateway.create_refund, refund_request(capture_id, Money(1, "USD")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "refund_exceeds_payment")  # CAPTURE_FULLY_REFUNDED
    assert len(sandbox_refunds(control)) == 2


def test_unrefundable_captures(gateway, control):
    error = failure(gateway.create_refund, refund_request("2GG279541U471931P", Money(100, "USD")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")
    capture_id = paid(gateway, control)
    control.post("/_sandbox/disputes", {"gateway": "paypal", "payment_id": capture_id})
    error = failure(gateway.create_refund, refund_request(capture_id, Money(100, "USD")), TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "payment_not_refundable")  # TRANSACTION_DISPUTED
    assert sandbox_refunds(control) == []


def test_lost_answer_is_found_and_not_made_twice(gateway, control):
    capture_id = paid(gateway, control)
    request = refund_request(capture_id, Money(700, "USD"))
    fault(control, "hang", effect=True)  # PayPal makes the refund; its answer never comes
    error = failure(gateway.create_refund, request, 0.5)
    assert error.kind == base.TIMEOUT and not error.surely_not_applied
    fault(control, "ok")
    [made] = sandbox_refunds(control)
    found = gateway.find_refund(request, TIMEOUT)
    assert found is not None and (found.refund_id, found.reference) == (made["id"], request.reference)
    assert len(sandbox_refunds(control)) == 1  # looking it up made none


def test_find_after_a_refused_create_is_none(gateway, control):
    capture_id = paid(gateway, control, 1000)
    request = refund_request(capture_id, Money(1001, "USD"))
    assert failure(gateway.create_refund, request, TIMEOUT).code == "refund_exceeds_payment"
    assert gateway.find_refund(request, TIMEOUT) is None and sandbox_refunds(control) == []


def test_pending_refund_is_fetched_until_it_ends(gateway, control):
    capture_id = paid(gateway, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "paypal", "mode": "pending"})
    refund = gateway.create_refund(refund_request(capture_id, Money(2500, "USD")), TIMEOUT)
    assert refund.status == base.REFUND_PENDING
    assert gateway.fetch_refund(refund.refund_id, capture_id, TIMEOUT).status == base.REFUND_PENDING
    control.post("/_sandbox/refunds/settle", {"gateway": "paypal", "id": refund.refund_id, "outcome": "failed"})
    failed = gateway.fetch_refund(refund.refund_id, capture_id, TIMEOUT)
    assert (failed.status, failed.payment_id, failed.amount) == (base.REFUND_FAILED, capture_id, Money(2500, "USD"))
    assert capture_status(gateway, capture_id) == "COMPLETED"
    assert failure(gateway.fetch_refund, "0000000000000000X", capture_id, TIMEOUT).kind == base.NOT_FOUND


@pytest.mark.parametrize("mode", ["down", "error"])
def test_refused_connections_and_server_errors_did_not_refund(gateway, control, mode):
    capture_id = paid(gateway, control)
    gateway.check_credentials(TIMEOUT)
    fault(control, mode, status=500)
    error = failure(gateway.create_refund, refund_request(capture_id, Money(100, "USD")), TIMEOUT)
    fault(control, "ok")
    assert error.surely_not_applied and sandbox_refunds(control) == []


def test_amounts_paypal_cannot_take_never_reach_it(gateway, control, calls):
    capture_id = paid(gateway, control)
    before = len(calls)
    error = failure(gateway.create_refund, refund_request(capture_id, Money(100, "INR")), TIMEOUT)
    assert error.kind == base.REJECTED and len(calls) == before


def test_the_note_is_cut_to_what_paypal_takes(gateway, control):
    capture_id = paid(gateway, control)
    request = replace(refund_request(capture_id, Money(100, "USD")), reason="x" * 300)
    gateway.create_refund(request, TIMEOUT)
    assert sandbox_refunds(control)[0]["note_to_payer"] == "x" * 255
