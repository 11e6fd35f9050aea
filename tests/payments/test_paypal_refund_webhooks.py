"""PayPal refund and dispute webhooks -> PaymentEvent: pure mapping (resources checked against PayPal's own Payments v2
schema in tests/reference/paypal/), then the sandbox's signed deliveries verified and confirmed by the adapter."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import WebhookRejected
from portal.payments.paypal import webhooks
from tests.payments.test_paypal_forgery import forge
from tests.payments.test_paypal_webhooks import (NOTIFICATIONS, PAYMENTS, TIMEOUT, delivery, hooked,  # noqa: F401
                                                 link_request, make_gateway, paid_order, settings, validate)

CAPTURE = "2GG279541U471931P"


def refund_event(event_type: str = "PAYMENT.CAPTURE.REFUNDED", **resource) -> dict:
    refund = {"id": "1JU08902781691411", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "10.99"},
              "invoice_id": "hp_rf_0123456789abcdef01234567", "note_to_payer": "Defective product",
              "seller_payable_breakdown": {"gross_amount": {"currency_code": "USD", "value": "10.99"},
                                           "paypal_fee": {"currency_code": "USD", "value": "0.00"},
                                           "net_amount": {"currency_code": "USD", "value": "10.99"},
                                           "total_refunded_amount": {"currency_code": "USD", "value": "10.99"}},
              "create_time": "2026-11-27T12:00:00Z", "update_time": "2026-11-27T12:00:00Z",
              "links": [{"href": "https://api-m.paypal.com/v2/payments/refunds/1JU08902781691411", "rel": "self",
                         "method": "GET"},
                        {"href": f"https://api-m.paypal.com/v2/payments/captures/{CAPTURE}", "rel": "up",
                         "method": "GET"}], **resource}
    return {"id": "WH-6F207351SC284371F-0KX52201050121307", "event_version": "1.0",
            "create_time": "2026-11-27T12:00:01Z", "resource_type": "refund", "resource_version": "2.0",
            "event_type": event_type, "summary": "A capture payment was refunded", "resource": refund, "links": []}


def dispute_event(event_type: str = "CUSTOMER.DISPUTE.CREATED", **resource) -> dict:
    dispute = {"dispute_id": "PP-D-27803", "create_time": "2026-11-27T12:00:00.000Z",
               "update_time": "2026-11-27T12:00:00.000Z",
               "disputed_transactions": [{"buyer_transaction_id": "4FV54541NS8930301", "seller_transaction_id": CAPTURE,
                                          "gross_amount": {"currency_code": "USD", "value": "2469.00"}}],
               "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", "status": "WAITING_FOR_SELLER_RESPONSE",
               "dispute_amount": {"currency_code": "USD", "value": "2469.00"},
               "seller_response_due_date": "2026-12-07T12:00:00.000Z", "dispute_life_cycle_stage": "CHARGEBACK",
               "dispute_channel": "INTERNAL", **resource}
    return {"id": "WH-4M0448861G563140B-9EX36365822141321", "event_version": "1.0",
            "create_time": "2026-11-27T12:00:01Z", "resource_type": "dispute", "resource_version": "1.0",
            "event_type": event_type, "summary": "A new dispute opened with Case # PP-D-27803", "resource": dispute,
            "links": []}


def parse(event: dict):
    return webhooks.parse_event(json.dumps(event).encode())


@pytest.mark.parametrize("event_type", ["PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"])
def test_refund_events_carry_the_refund(event_type):
    event = refund_event(event_type)
    validate(NOTIFICATIONS, "event", event)
    validate(PAYMENTS, "refund", event["resource"])
    parsed = parse(event)
    assert (parsed.kind, parsed.event_type, parsed.link_id) == (base.EVENT_REFUND, event_type, None)
    assert parsed.reference == "hp_rf_0123456789abcdef01234567" and parsed.payment is None
    refund = parsed.refund
    assert (refund.gateway, refund.refund_id, refund.payment_id, refund.amount, refund.status) == (
        "paypal", "1JU08902781691411", CAPTURE, Money(1099, "USD"), base.REFUND_SUCCEEDED)
    assert refund.reason == "Defective product"


@pytest.mark.parametrize("status, ours", [("COMPLETED", base.REFUND_SUCCEEDED), ("PENDING", base.REFUND_PENDING),
                                          ("FAILED", base.REFUND_FAILED), ("CANCELLED", base.REFUND_FAILED)])
def test_refund_statuses(status, ours):
    event = refund_event(status=status)
    validate(PAYMENTS, "refund", event["resource"])
    assert parse(event).refund.status == ours


ORDER_LINK = {"rel": "up", "href": "https://api-m.paypal.com/v2/checkout/orders/5O190127TN364715T"}


@pytest.mark.parametrize("change", [{"status": "DONE"}, {"amount": {"currency_code": "USD", "value": "1.999"}},
                                    {"amount": None}, {"id": ""}, {"links": []}, {"links": [ORDER_LINK]}])
def test_malformed_refunds_are_rejected(change):
    with pytest.raises(WebhookRejected, match="refund resource is malformed"):
        parse(refund_event(**change))


def test_a_dispute_opens_with_its_deadline():
    event = dispute_event()
    validate(NOTIFICATIONS, "event", event)
    parsed = parse(event)
    assert (parsed.kind, parsed.link_id, parsed.refund) == (base.EVENT_DISPUTE, None, None)
    dispute = parsed.dispute
    assert (dispute.dispute_id, dispute.payment_id, dispute.amount, dispute.status, dispute.reason) == (
        "PP-D-27803", CAPTURE, Money(246900, "USD"), base.DISPUTE_OPEN, "MERCHANDISE_OR_SERVICE_NOT_RECEIVED")
    assert dispute.respond_by == datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("status, outcome, ours", [
    ("OPEN", None, base.DISPUTE_OPEN), ("UNDER_REVIEW", None, base.DISPUTE_UNDER_REVIEW),
    ("WAITING_FOR_BUYER_RESPONSE", None, base.DISPUTE_UNDER_REVIEW),
    ("RESOLVED", "RESOLVED_SELLER_FAVOUR", base.DISPUTE_WON), ("RESOLVED", "CANCELED_BY_BUYER", base.DISPUTE_WON),
    ("RESOLVED", "DENIED", base.DISPUTE_WON), ("RESOLVED", "RESOLVED_BUYER_FAVOUR", base.DISPUTE_LOST),
    ("RESOLVED", "ACCEPTED", base.DISPUTE_LOST), ("RESOLVED", "RESOLVED_WITH_PAYOUT", base.DISPUTE_UNDER_REVIEW)])
def test_dispute_statuses_and_outcomes(status, outcome, ours):
    extra = {"dispute_outcome": {"outcome_code": outcome}} if outcome else {}
    event_type = "CUSTOMER.DISPUTE.RESOLVED" if outcome else "CUSTOMER.DISPUTE.UPDATED"
    assert parse(dispute_event(event_type, status=status, **extra)).dispute.status == ours


@pytest.mark.parametrize("change", [{"dispute_id": None}, {"disputed_transactions": []}, {"status": "PAUSED"},
                                    {"dispute_amount": {"currency_code": "USD"}},
                                    {"seller_response_due_date": "next week"},
                                    {"seller_response_due_date": "2026-12-07T12:00:00"}])
def test_malformed_disputes_are_rejected(change):
    with pytest.raises(WebhookRejected):
        parse(dispute_event(**change))


# ---- the sandbox's deliveries, verified and confirmed by the adapter -----------------------------------------
def test_delivered_refund_is_confirmed_with_paypal(settings, hooked, control):
    calls = []
    gateway = make_gateway(settings, calls)
    _, captured = paid_order(gateway, control)
    [payment] = captured.payments
    made = control.post("/_sandbox/refunds", {"gateway": "paypal", "payment_id": payment.payment_id,
                                              "amount_minor": 1000})
    body, headers = delivery(control, "PAYMENT.CAPTURE.REFUNDED")
    event = gateway.verify_webhook(body, headers, TIMEOUT)
    assert event.kind == base.EVENT_REFUND and event.transmission_id
    assert (event.refund.refund_id, event.refund.payment_id, event.refund.amount, event.refund.status) == (
        made["id"], payment.payment_id, Money(1000, "USD"), base.REFUND_SUCCEEDED)
    assert any(url.endswith(f"/v2/payments/refunds/{made['id']}") for _, url, _ in calls)  # asked PayPal


def test_a_refund_paypal_does_not_know_is_rejected(settings, hooked, control):
    gateway = make_gateway(settings)
    _, captured = paid_order(gateway, control)
    control.post("/_sandbox/refunds", {"gateway": "paypal", "payment_id": captured.payments[0].payment_id})
    body, headers = delivery(control, "PAYMENT.CAPTURE.REFUNDED")
    control.post("/_sandbox/reset", {})  # PayPal forgets the refund: the body alone is not enough
    with pytest.raises(WebhookRejected, match="PayPal has no refund"):
        gateway.verify_webhook(body, headers, TIMEOUT)


def test_delivered_dispute_events(settings, hooked, control):
    gateway = make_gateway(settings)
    _, captured = paid_order(gateway, control)
    capture_id = captured.payments[0].payment_id
    opened = control.post("/_sandbox/disputes", {"gateway": "paypal", "payment_id": capture_id})
    created = gateway.verify_webhook(*delivery(control, "CUSTOMER.DISPUTE.CREATED"), TIMEOUT)
    assert (created.dispute.status, created.dispute.payment_id) == (base.DISPUTE_OPEN, capture_id)
    assert created.dispute.respond_by is not None and created.dispute.amount == Money(246900, "USD")
    control.post("/_sandbox/disputes/close", {"gateway": "paypal", "id": opened["id"], "outcome": "lost"})
    updated = gateway.verify_webhook(*delivery(control, "CUSTOMER.DISPUTE.UPDATED"), TIMEOUT)
    resolved = gateway.verify_webhook(*delivery(control, "CUSTOMER.DISPUTE.RESOLVED"), TIMEOUT)
    # Each is read as PayPal reports the dispute when it is verified: by now, resolved in the buyer's favour.
    assert (resolved.dispute.dispute_id, resolved.dispute.status) == (opened["id"], base.DISPUTE_LOST)
    assert updated.dispute.status == base.DISPUTE_LOST


def test_a_forged_body_under_genuine_headers_is_read_as_paypal_reports_the_refund(settings, hooked, control):
    """The signature covers a CRC-32 only: a body forged to the same CRC (amount and status changed) passes it, so
    the refund must come from PayPal's refunds.get, never from the body."""
    gateway = make_gateway(settings)
    _, captured = paid_order(gateway, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "paypal", "mode": "pending"})
    made = control.post("/_sandbox/refunds", {"gateway": "paypal", "payment_id": captured.payments[0].payment_id,
                                              "amount_minor": 500})
    control.post("/_sandbox/refunds/settle", {"gateway": "paypal", "id": made["id"], "outcome": "succeeded"})
    body, headers = delivery(control, "PAYMENT.CAPTURE.REFUNDED")
    event = json.loads(body)
    event["resource"] = {**event["resource"], "amount": {"currency_code": "USD", "value": "2469.00"},
                         "status": "FAILED"}
    forged = forge(event, body)
    assert forged != body
    parsed = gateway.verify_webhook(forged, headers, TIMEOUT)
    assert (parsed.refund.amount, parsed.refund.status) == (Money(500, "USD"), base.REFUND_SUCCEEDED)


def test_a_forged_dispute_outcome_is_read_as_paypal_reports_it(settings, hooked, control):
    gateway = make_gateway(settings)
    _, captured = paid_order(gateway, control)
    opened = control.post("/_sandbox/disputes", {"gateway": "paypal", "payment_id": captured.payments[0].payment_id})
    body, headers = delivery(control, "CUSTOMER.DISPUTE.CREATED")
    event = json.loads(body)
    event["resource"] = {**event["resource"], "status": "RESOLVED",
                         "dispute_outcome": {"outcome_code": "RESOLVED_BUYER_FAVOUR"}}
    parsed = gateway.verify_webhook(forge(event, body), headers, TIMEOUT)
    assert (parsed.dispute.dispute_id, parsed.dispute.status) == (opened["id"], base.DISPUTE_OPEN)
