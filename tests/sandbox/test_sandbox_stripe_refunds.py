"""Stripe refunds and disputes in the sandbox, driven only through stripe-python's StripeClient and the control API."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from tests.sandbox.test_sandbox_stripe import assert_covers, session_params


def paid_intent(stripe_client, control, amount: int = 12000) -> str:
    """A Checkout Session paid with a card; its PaymentIntent id (what the portal stores as the payment)."""
    params = session_params(line_items=[{"price_data": {"currency": "usd", "unit_amount": amount,
                                                        "product_data": {"name": "Invoice INV-0009"}},
                                         "quantity": 1}])
    session = stripe_client.v1.checkout.sessions.create(params=params)
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": session.id})
    return stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent


def events_of(receiver, prefix: str, count: int, sandbox) -> list[stripe.Event]:
    """The first `count` deliveries whose type starts with `prefix`, each verified with the SDK."""
    deadline = time.time() + 5
    while True:
        found = [r for r in receiver.requests if json.loads(r["body"])["type"].startswith(prefix)]
        if len(found) >= count or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(found) >= count, [json.loads(r["body"])["type"] for r in receiver.requests]
    secret = sandbox.config.stripe_webhook_secret
    return [stripe.Webhook.construct_event(r["body"].decode(), r["headers"]["Stripe-Signature"], secret)
            for r in found[:count]]


def test_full_refund_of_a_payment_intent(stripe_client, control, reference):
    pi = paid_intent(stripe_client, control)
    intent = stripe_client.v1.payment_intents.retrieve(pi)
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount, charge.amount_refunded, charge.refunded, charge.payment_intent) == (12000, 0, False, pi)

    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi, "reason": "requested_by_customer",
                                                     "metadata": {"reference": "rf-1"}})
    assert isinstance(refund, stripe.Refund) and refund.id.startswith("re_")
    assert (refund.amount, refund.currency, refund.status, refund.charge, refund.payment_intent) == (
        12000, "usd", "succeeded", charge.id, pi)
    assert refund.reason == "requested_by_customer" and refund.metadata["reference"] == "rf-1"
    fixtures = reference("stripe/fixtures3.json")["resources"]
    assert_covers(json.loads(refund.last_response.body), fixtures["refund"])
    charge = stripe_client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (12000, True)
    # The Charge no longer lists its refunds (API 2022-11-15 on); everything but `refunds` matches the fixture.
    assert_covers(json.loads(charge.last_response.body), {k: v for k, v in fixtures["charge"].items()
                                                          if k not in ("refunds", "source", "transfer_data")})
    assert "refunds" not in charge

    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 1})
    assert (info.value.http_status, info.value.code) == (400, "charge_already_refunded")
    assert info.value.user_message == f"Charge {charge.id} has already been refunded."


def test_partial_refunds_then_more_than_is_left(stripe_client, control, sandbox):
    pi = paid_intent(stripe_client, control)
    first = stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 1000})
    second = stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 500})
    assert first.amount == 1000 and second.amount == 500
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 10501})
    error = info.value
    assert (error.http_status, error.param, error.code, error.error.type) == (400, "amount", None,
                                                                              "invalid_request_error")
    assert error.user_message == "Refund amount ($105.01) is greater than unrefunded amount on charge ($105.00)"
    rest = stripe_client.v1.refunds.create(params={"payment_intent": pi})  # no amount: all that is left
    assert rest.amount == 10500
    charge = stripe_client.v1.charges.retrieve(rest.charge)
    assert (charge.amount_refunded, charge.refunded) == (12000, True)

    listed = stripe_client.v1.refunds.list(params={"payment_intent": pi})
    assert [r.id for r in listed.data] == [rest.id, second.id, first.id]  # newest first
    assert stripe_client.v1.refunds.list(params={"payment_intent": paid_intent(stripe_client, control)}).data == []
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.list(params={"payment_intent": "pi_other"})
    assert (info.value.code, info.value.param) == ("resource_missing", "payment_intent")
    assert stripe_client.v1.refunds.retrieve(first.id).amount == 1000
    state = control.get("/_sandbox/state")["stripe"]
    assert [r["id"] for r in state["refunds"]] == [first.id, second.id, rest.id]


@pytest.mark.parametrize("params, status, code, param", [
    ({"payment_intent": "pi_missing"}, 400, "resource_missing", "payment_intent"),
    ({"payment_intent": "PAID", "amount": 0}, 400, None, "amount"),
    ({"payment_intent": "PAID", "amount": "ten"}, 400, "parameter_invalid_integer", "amount"),
    ({"payment_intent": "PAID", "reason": "changed_mind"}, 400, None, "reason"),
    ({}, 400, "parameter_missing", None),
])
def test_bad_refund_requests(stripe_client, control, params, status, code, param):
    pi = paid_intent(stripe_client, control)
    params = {k: (pi if v == "PAID" else v) for k, v in params.items()}
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params=params)
    assert (info.value.http_status, info.value.code, info.value.param) == (status, code, param)
    assert control.get("/_sandbox/state")["stripe"]["refunds"] == []


def test_declined_payment_cannot_be_refunded(stripe_client, control):
    session = stripe_client.v1.checkout.sessions.create(params=session_params())
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": session.id, "outcome": "decline"})
    pi = stripe_client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.create(params={"payment_intent": pi})
    assert info.value.param == "payment_intent" and "does not have a successful charge" in info.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.refunds.retrieve("re_missing")
    assert (info.value.http_status, info.value.code) == (404, "resource_missing")


def test_idempotent_replay_is_one_refund(stripe_client, control):
    pi = paid_intent(stripe_client, control)
    params = {"payment_intent": pi, "amount": 700, "metadata": {"reference": "rf-7"}}
    first = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "rf-7"})
    again = stripe_client.v1.refunds.create(params=params, options={"idempotency_key": "rf-7"})
    assert again.last_response.body == first.last_response.body
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.refunds.create(params={**params, "amount": 800}, options={"idempotency_key": "rf-7"})
    assert len(control.get("/_sandbox/state")["stripe"]["refunds"]) == 1


def test_refund_webhooks_are_signed_and_carry_the_refund(stripe_client, control, sandbox, receiver):
    pi = paid_intent(stripe_client, control)
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 2500})
    created, = events_of(receiver, "refund.", 1, sandbox)
    assert created.type == "refund.created" and created.data.object.id == refund.id
    assert created.data.object.status == "succeeded"
    charged, = events_of(receiver, "charge.refunded", 1, sandbox)
    assert charged.data.object.payment_intent == pi and charged.data.object.amount_refunded == 2500
    assert "refunds" not in charged.data.object


def test_pending_refund_settles_later(stripe_client, control, sandbox, receiver):
    pi = paid_intent(stripe_client, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "stripe", "mode": "settle", "settle_ms": 100})
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 3000})
    assert refund.status == "pending"
    assert stripe_client.v1.charges.retrieve(refund.charge).amount_refunded == 3000  # counted while pending
    created, updated = sorted(events_of(receiver, "refund.", 2, sandbox), key=lambda e: e.type)
    assert (created.type, created.data.object.status) == ("refund.created", "pending")
    assert (updated.type, updated.data.object.status) == ("refund.updated", "succeeded")
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "succeeded"


def test_pending_refund_settled_by_hand_or_failed(stripe_client, control, sandbox, receiver):
    pi = paid_intent(stripe_client, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "stripe", "mode": "pending"})
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 3000})
    time.sleep(0.5)  # the sweeper must leave it alone
    assert stripe_client.v1.refunds.retrieve(refund.id).status == "pending"
    failed = control.post("/_sandbox/refunds/settle", {"gateway": "stripe", "id": refund.id, "outcome": "failed"})
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    control.post("/_sandbox/refunds/settle", {"gateway": "stripe", "id": refund.id, "outcome": "succeeded"},
                 expect=409)
    assert stripe_client.v1.charges.retrieve(refund.charge).amount_refunded == 0  # given back
    failed_event = max(events_of(receiver, "refund.", 2, sandbox), key=lambda e: e.type == "refund.failed")
    assert failed_event.type == "refund.failed" and failed_event.data.object.status == "failed"

    control.post("/_sandbox/refunds/mode", {"gateway": "stripe", "mode": "fail", "settle_ms": 50})
    second = stripe_client.v1.refunds.create(params={"payment_intent": pi})
    assert second.amount == 12000 and second.status == "pending"
    deadline = time.time() + 3
    while stripe_client.v1.refunds.retrieve(second.id).status == "pending" and time.time() < deadline:
        time.sleep(0.05)
    assert stripe_client.v1.refunds.retrieve(second.id).status == "failed"


def test_dashboard_refund_is_delivered_signed(stripe_client, control, sandbox, receiver):
    pi = paid_intent(stripe_client, control)
    refund = control.post("/_sandbox/refunds", {"gateway": "stripe", "payment_id": pi, "amount_minor": 2500,
                                                "reason": "returned at the shop"})
    assert (refund["object"], refund["amount"], refund["payment_intent"], refund["reason"]) == (
        "refund", 2500, pi, None)
    assert refund["metadata"] == {"note": "returned at the shop"}
    created, = events_of(receiver, "refund.created", 1, sandbox)
    assert created.data.object.id == refund["id"]
    control.post("/_sandbox/refunds", {"gateway": "stripe", "payment_id": pi, "amount_minor": 9501}, expect=409)
    control.post("/_sandbox/refunds", {"gateway": "stripe", "payment_id": "pi_nope"}, expect=404)


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_dispute_opened_then_closed(stripe_client, control, sandbox, receiver, reference, outcome):
    pi = paid_intent(stripe_client, control)
    dispute = control.post("/_sandbox/disputes", {"gateway": "stripe", "payment_id": pi, "reason": "fraudulent"})
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert (dispute["amount"], dispute["reason"], dispute["payment_intent"]) == (12000, "fraudulent", pi)
    assert dispute["evidence_details"]["due_by"] > time.time()
    fetched = stripe_client.v1.disputes.retrieve(dispute["id"])
    assert_covers(json.loads(fetched.last_response.body), reference("stripe/fixtures3.json")["resources"]["dispute"])
    assert stripe_client.v1.charges.retrieve(dispute["charge"]).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as info:  # a chargeback's money is gone already
        stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 100})
    assert info.value.code == "charge_disputed"
    opened = events_of(receiver, "charge.dispute.", 2, sandbox)
    # Deliveries run concurrently, so their order is not guaranteed (as at Stripe).
    assert sorted(e.type for e in opened) == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]

    closed = control.post("/_sandbox/disputes/close", {"gateway": "stripe", "id": dispute["id"], "outcome": outcome})
    assert closed["status"] == outcome
    control.post("/_sandbox/disputes/close", {"gateway": "stripe", "id": dispute["id"], "outcome": outcome},
                 expect=409)
    expected = (["charge.dispute.funds_reinstated"] if outcome == "won" else []) + ["charge.dispute.closed"]
    after = events_of(receiver, "charge.dispute.", 2 + len(expected), sandbox)[2:]
    assert sorted(e.type for e in after) == sorted(expected)
    assert {e.data.object.status for e in after} == {outcome}
    assert [d["status"] for d in control.get("/_sandbox/state")["stripe"]["disputes"]] == [outcome]
    assert [d.id for d in stripe_client.v1.disputes.list(params={"payment_intent": pi}).data] == [dispute["id"]]
