"""Stripe refund and dispute events -> PaymentEvent: pure mapping of the reference fixtures (stripe/openapi
fixtures3.json "refund", "charge", "dispute"), then signed deliveries from the sandbox."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from portal.money import Money
from portal.payments import base
from portal.payments.base import WebhookRejected
from portal.payments.stripe import StripeGateway, translate, webhooks
from tests.payments.test_stripe_adapter import TIMEOUT, link_request
from tests.payments.test_stripe_webhooks import delivered, gateway, resources  # noqa: F401 (fixtures)


def mapped(resources, event_type: str, obj: dict):
    body = resources["event"] | {"id": "evt_money_back_1", "type": event_type, "data": {"object": obj}}
    return webhooks.to_event(body, StripeGateway)


@pytest.fixture
def refund(resources) -> dict:
    return resources["refund"] | {"payment_intent": "pi_paid_1", "metadata": {"reference": "rf-9"}}


@pytest.fixture
def dispute(resources) -> dict:
    return resources["dispute"] | {"payment_intent": "pi_paid_1"}


@pytest.mark.parametrize("event_type", ["refund.created", "refund.updated", "refund.failed", "charge.refund.updated"])
def test_refund_events_carry_the_refund(resources, refund, event_type):
    got = mapped(resources, event_type, refund)
    assert (got.kind, got.link_id, got.event_id, got.reference) == (base.EVENT_REFUND, None, "evt_money_back_1",
                                                                    "rf-9")
    assert got.refund == base.GatewayRefund("stripe", refund["id"], "pi_paid_1", Money(100, "USD"),
                                            base.REFUND_SUCCEEDED, "rf-9", "", got.refund.raw)
    assert got.refund.raw["id"] == refund["id"] and got.dispute is None and got.refunds_of is None


@pytest.mark.parametrize("status, ours", [("pending", base.REFUND_PENDING), ("requires_action", base.REFUND_PENDING),
                                          ("succeeded", base.REFUND_SUCCEEDED), ("failed", base.REFUND_FAILED),
                                          ("canceled", base.REFUND_FAILED)])
def test_refund_statuses(resources, refund, status, ours):
    assert mapped(resources, "refund.updated", refund | {"status": status}).refund.status == ours


def test_failed_refund_says_why_and_a_refund_of_a_bare_charge_names_it(resources, refund):
    failed = mapped(resources, "refund.failed", refund | {"status": "failed", "failure_reason": "declined"}).refund
    assert failed.reason == "declined"
    bare = mapped(resources, "refund.created", refund | {"payment_intent": None, "metadata": {}}).refund
    assert bare.payment_id == refund["charge"] and bare.reference is None  # a dashboard refund has no reference
    intent = {"id": "pi_x", "object": "payment_intent"}
    expanded = mapped(resources, "refund.created", refund | {"payment_intent": intent})
    assert expanded.refund.payment_id == "pi_x"


def test_charge_refunded_asks_for_the_payments_refunds(resources):
    charge = resources["charge"] | {"payment_intent": "pi_paid_1", "amount_refunded": 100, "refunded": True}
    got = mapped(resources, "charge.refunded", charge)
    assert (got.kind, got.refunds_of, got.refund, got.link_id) == (base.EVENT_REFUNDS_CHANGED, "pi_paid_1", None, None)
    # Even a Charge that still lists its refunds (older API versions) may list several: still "ask".
    assert mapped(resources, "charge.refunded", resources["charge"]).refunds_of == resources["charge"]["id"]


@pytest.mark.parametrize("status, ours", [
    ("warning_needs_response", base.DISPUTE_OPEN), ("needs_response", base.DISPUTE_OPEN),
    ("appeal_needs_response", base.DISPUTE_OPEN), ("warning_under_review", base.DISPUTE_UNDER_REVIEW),
    ("under_review", base.DISPUTE_UNDER_REVIEW), ("appeal_under_review", base.DISPUTE_UNDER_REVIEW),
    ("won", base.DISPUTE_WON), ("warning_closed", base.DISPUTE_WON), ("prevented", base.DISPUTE_WON),
    ("lost", base.DISPUTE_LOST)])
def test_dispute_statuses(resources, dispute, status, ours):
    assert mapped(resources, "charge.dispute.updated", dispute | {"status": status}).dispute.status == ours


@pytest.mark.parametrize("event_type", ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                                        "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"])
def test_dispute_events_carry_the_dispute(resources, dispute, event_type):
    got = mapped(resources, event_type, dispute)
    assert (got.kind, got.link_id, got.refund) == (base.EVENT_DISPUTE, None, None)
    assert (got.dispute.dispute_id, got.dispute.payment_id, got.dispute.amount, got.dispute.reason) == (
        dispute["id"], "pi_paid_1", Money(1000, "USD"), "general")
    assert got.dispute.respond_by == datetime.fromtimestamp(dispute["evidence_details"]["due_by"], timezone.utc)
    no_deadline = dispute | {"evidence_details": dispute["evidence_details"] | {"due_by": 0}}
    assert mapped(resources, event_type, no_deadline).dispute.respond_by is None


@pytest.mark.parametrize("event_type, obj_changes", [
    ("refund.created", {"object": "charge"}),
    ("refund.created", {"amount": "100"}),
    ("refund.created", {"status": "weird"}),
    ("refund.created", {"currency": None}),
    ("refund.created", {"currency": "zzz"}),
    ("refund.updated", {"payment_intent": None, "charge": None}),
    ("charge.refunded", {"object": "refund"}),
    ("charge.dispute.created", {"object": "refund"}),
])
def test_malformed_money_back_events_are_rejected(resources, refund, event_type, obj_changes):
    with pytest.raises(WebhookRejected) as info:
        mapped(resources, event_type, refund | obj_changes)
    assert event_type in str(info.value)


def test_dispute_with_unknown_status_is_rejected(resources, dispute):
    with pytest.raises(WebhookRejected, match="unknown Dispute status"):
        mapped(resources, "charge.dispute.created", dispute | {"status": "charge_refunded"})


def test_refund_params_are_pure_and_carry_the_reference():
    request = base.RefundRequest(payment_id="pi_1", amount=Money.parse("500", "ISK"), reference="rf-1",
                                 invoice_number="INV-1", reason="x" * 600)
    params = translate.refund_params(request, StripeGateway)
    assert params == {"payment_intent": "pi_1", "amount": 50000,  # ISK is two-decimal on Stripe's wire
                      "metadata": {"reference": "rf-1", "invoice_number": "INV-1", "reason": "x" * 500}}
    assert translate.refund_options(request) == {"idempotency_key": "rf-1"}


# ---- signed deliveries from the sandbox ----------------------------------------------------------
def paid_intent(gateway, control) -> str:
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    return gateway.fetch_link(link.link_id, TIMEOUT).payments[0].payment_id


def test_delivered_dashboard_refund_verifies(gateway, control):
    pi = paid_intent(gateway, control)
    made = control.post("/_sandbox/refunds", {"gateway": "stripe", "payment_id": pi, "amount_minor": 2500})
    body, headers = delivered(control, "refund.created", made["id"])
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert got.kind == base.EVENT_REFUND and got.refund.refund_id == made["id"]
    assert (got.refund.payment_id, got.refund.amount, got.refund.status) == (pi, Money(2500, "INR"),
                                                                             base.REFUND_SUCCEEDED)
    body, headers = delivered(control, "charge.refunded", pi)
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert (got.kind, got.refunds_of) == (base.EVENT_REFUNDS_CHANGED, pi)
    assert [r.refund_id for r in gateway.list_refunds(got.refunds_of, TIMEOUT)] == [made["id"]]


def test_delivered_dispute_verifies_open_then_lost(gateway, control):
    pi = paid_intent(gateway, control)
    opened = control.post("/_sandbox/disputes", {"gateway": "stripe", "payment_id": pi})
    body, headers = delivered(control, "charge.dispute.created", opened["id"])
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert (got.kind, got.dispute.dispute_id, got.dispute.payment_id, got.dispute.status) == (
        base.EVENT_DISPUTE, opened["id"], pi, base.DISPUTE_OPEN)
    assert got.dispute.amount == Money(246900, "INR") and got.dispute.respond_by is not None
    control.post("/_sandbox/disputes/close", {"gateway": "stripe", "id": opened["id"], "outcome": "lost"})
    body, headers = delivered(control, "charge.dispute.closed", opened["id"])
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert got.dispute.status == base.DISPUTE_LOST and json.loads(body)["data"]["object"]["status"] == "lost"
