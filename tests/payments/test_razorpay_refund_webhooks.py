"""Razorpay refund and dispute events -> PaymentEvent: pure mapping of bodies in Razorpay's envelope (the SDK's
fake_payment_authorized_webhook.json with its payment entity; refund and dispute entities with the keys of
https://razorpay.com/docs/api/refunds/entity/ and /api/disputes/entity/), then signed deliveries from the sandbox."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import WebhookRejected
from portal.payments.razorpay import RazorpayGateway
from tests.payments.test_razorpay_webhooks import (TIMEOUT_S, delivered, gateway, link_request,  # noqa: F401
                                                   parse, pay, reference)


def refund_entity(**changes) -> dict:
    # The documented entity (https://razorpay.com/docs/api/refunds/entity/), with our receipt.
    entity = {"id": "rfnd_FgRAHdNOM4ZVbO", "entity": "refund", "amount": 10000, "currency": "INR",
              "payment_id": "pay_FgR9UMzgmKDJRi", "notes": {"reference": "rf-9", "reason": "damaged"},
              "receipt": "rf-9", "acquirer_data": {"arn": "10000000000000"}, "created_at": 1600856650,
              "batch_id": None, "status": "processed", "speed_processed": "normal", "speed_requested": "normal"}
    return entity | changes


def dispute_entity(**changes) -> dict:
    # The documented entity (https://razorpay.com/docs/api/disputes/entity/), evidence left out.
    entity = {"id": "disp_AHfqOvkldwsbqt", "entity": "dispute", "payment_id": "pay_EsyWjHrfzb59eR",
              "amount": 10000, "currency": "INR", "amount_deducted": 0, "reason_code": "chargeback",
              "respond_by": 1590604200, "status": "open", "phase": "chargeback", "created_at": 1590059211}
    return entity | changes


def body(event_type: str, name: str, entity: dict | None, notes=None) -> str:
    envelope = reference("fake_payment_authorized_webhook.json")
    payment = envelope["payload"]["payment"]["entity"]
    payment["notes"] = {"invoice_id": "42"} if notes is None else notes
    payload = {"payment": {"entity": payment}}
    if entity is not None:
        payload = {name: {"entity": entity}, **payload}
    envelope.update(event=event_type, payload=payload, contains=list(payload))
    return json.dumps(envelope)


@pytest.mark.parametrize("event_type, status, expected", [
    ("refund.created", "pending", base.REFUND_PENDING),
    ("refund.processed", "processed", base.REFUND_SUCCEEDED),
    ("refund.failed", "failed", base.REFUND_FAILED),
    ("refund.speed_changed", "pending", base.REFUND_PENDING),
])
def test_refund_events_carry_the_refund(event_type, status, expected):
    got = parse(body(event_type, "refund", refund_entity(status=status)))
    assert (got.kind, got.event_type, got.link_id, got.reference, got.invoice_id) == (
        base.EVENT_REFUND, event_type, None, "rf-9", 42)
    reason = "failed" if expected == base.REFUND_FAILED else "damaged"
    assert got.refund == base.GatewayRefund("razorpay", "rfnd_FgRAHdNOM4ZVbO", "pay_FgR9UMzgmKDJRi",
                                            Money(10000, "INR"), expected, "rf-9", reason, got.refund.raw)
    assert got.dispute is None and got.payment is None


def test_a_dashboard_refund_has_no_reference_and_empty_notes_are_a_list():
    got = parse(body("refund.processed", "refund", refund_entity(receipt=None, notes=[])), "evt_1")
    assert (got.refund.reference, got.reference, got.refund.reason) == (None, None, "")


def test_zero_decimal_refunds_in_iso_units():
    got = parse(body("refund.processed", "refund", refund_entity(amount=500, currency="JPY")))
    assert got.refund.amount == Money(500, "JPY")


@pytest.mark.parametrize("event_type, status, expected", [
    ("payment.dispute.created", "open", base.DISPUTE_OPEN),
    ("payment.dispute.under_review", "under_review", base.DISPUTE_UNDER_REVIEW),
    ("payment.dispute.action_required", "under_review", base.DISPUTE_OPEN),  # respond again
    ("payment.dispute.won", "won", base.DISPUTE_WON),
    ("payment.dispute.lost", "lost", base.DISPUTE_LOST),
    ("payment.dispute.closed", "closed", base.DISPUTE_WON),  # closed in the merchant's favour: money kept
])
def test_dispute_events_carry_the_dispute(event_type, status, expected):
    got = parse(body(event_type, "dispute", dispute_entity(status=status)))
    assert (got.kind, got.link_id, got.invoice_id) == (base.EVENT_DISPUTE, None, 42)
    assert got.dispute == base.GatewayDispute(
        "razorpay", "disp_AHfqOvkldwsbqt", "pay_EsyWjHrfzb59eR", Money(10000, "INR"), expected, "chargeback",
        datetime(2020, 5, 27, 18, 30, tzinfo=timezone.utc), got.dispute.raw)
    assert got.refund is None


def test_a_dispute_without_a_deadline():
    got = parse(body("payment.dispute.created", "dispute", dispute_entity(respond_by=None, reason_description="fraud")))
    assert (got.dispute.respond_by, got.dispute.reason) == (None, "fraud")


@pytest.mark.parametrize("event_type, name, entity, words", [
    ("refund.processed", "refund", None, "without a refund entity"),
    ("refund.processed", "refund", refund_entity(amount="100"), "not a number of subunits"),
    ("refund.processed", "refund", refund_entity(amount=10.5), "not a number of subunits"),
    ("refund.processed", "refund", refund_entity(status="reversed"), "unknown refund status"),
    ("refund.processed", "refund", refund_entity(payment_id=None), "names no payment_id"),
    ("refund.processed", "refund", refund_entity(entity="payment"), "not a Razorpay refund entity"),
    ("refund.processed", "refund", refund_entity(currency="XYZ"), "refund.processed:"),
    ("payment.dispute.lost", "dispute", None, "without a dispute entity"),
    ("payment.dispute.lost", "dispute", dispute_entity(status="maybe"), "unknown dispute status"),
    ("payment.dispute.lost", "dispute", dispute_entity(currency=None), "has no currency"),
])
def test_malformed_money_back_events_are_rejected(event_type, name, entity, words):
    with pytest.raises(WebhookRejected) as info:
        parse(body(event_type, name, entity))
    assert words in str(info.value)


# ---- against the sandbox: what it delivers verifies and maps ---------------------------------------------
def test_sandbox_refund_and_dispute_deliveries_verify(gateway, control):
    link = gateway.create_link(link_request(metadata={"invoice_id": "77"}), TIMEOUT_S)
    payment_id = pay(control, link.link_id)["payment"]["id"]
    control.post("/_sandbox/refunds/mode", {"gateway": "razorpay", "mode": "instant"})
    made = control.post("/_sandbox/refunds", {"gateway": "razorpay", "payment_id": payment_id, "amount_minor": 2500})
    raw, headers = delivered(control, "refund.processed", made["id"])
    event = gateway.verify_webhook(raw, headers, TIMEOUT_S)
    assert (event.kind, event.event_id, event.refund.refund_id, event.refund.status, event.refund.amount) == (
        base.EVENT_REFUND, headers["X-Razorpay-Event-Id"], made["id"], base.REFUND_SUCCEEDED, Money(2500, "INR"))
    assert (event.refund.payment_id, event.invoice_id) == (payment_id, 77)  # the link's notes, on its payment

    opened = control.post("/_sandbox/disputes", {"gateway": "razorpay", "payment_id": payment_id})
    control.post("/_sandbox/disputes/close", {"gateway": "razorpay", "id": opened["id"], "outcome": "lost"})
    raw, headers = delivered(control, "payment.dispute.lost", opened["id"])
    event = gateway.verify_webhook(raw, headers, TIMEOUT_S)
    assert (event.kind, event.dispute.dispute_id, event.dispute.status, event.dispute.payment_id) == (
        base.EVENT_DISPUTE, opened["id"], base.DISPUTE_LOST, payment_id)
    assert event.dispute.respond_by is not None
    with pytest.raises(WebhookRejected):
        gateway.verify_webhook(raw.replace(b'"lost"', b'"won"'), headers, TIMEOUT_S)
