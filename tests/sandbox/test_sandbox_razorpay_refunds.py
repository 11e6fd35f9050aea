"""Razorpay refunds and disputes in the sandbox, driven only through razorpay-python's Client and the control API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from razorpay.errors import BadRequestError

from tests.sandbox.test_sandbox_razorpay import link_params

# Keys of the refund entity (https://razorpay.com/docs/api/refunds/entity/).
REFUND_KEYS = {"id", "entity", "amount", "currency", "payment_id", "notes", "receipt", "acquirer_data", "created_at",
               "batch_id", "status", "speed_processed", "speed_requested"}
# Keys of the dispute entity (https://razorpay.com/docs/api/disputes/entity/).
DISPUTE_KEYS = {"id", "entity", "payment_id", "amount", "currency", "amount_deducted", "reason_code", "respond_by",
                "status", "phase", "created_at", "evidence"}


def paid_payment(razorpay_client, control, amount: int = 123450) -> str:
    """A payment link paid in full; its payment id (pay_...), as the portal stores it."""
    link = razorpay_client.payment_link.create(link_params(amount=amount, reference_id=f"r-{time.time_ns()}"))
    paid = control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link["id"]})
    return paid["payment"]["id"]


def events_of(receiver, prefix: str, count: int, sandbox) -> list[dict]:
    """The first `count` deliveries whose event starts with `prefix`, each checked against its signature."""
    deadline = time.time() + 5
    while True:
        found = [r for r in receiver.requests if json.loads(r["body"])["event"].startswith(prefix)]
        if len(found) >= count or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(found) >= count, [json.loads(r["body"])["event"] for r in receiver.requests]
    secret = sandbox.config.razorpay_webhook_secret
    for delivery in found:
        expected = hmac.new(secret.encode(), delivery["body"], hashlib.sha256).hexdigest()
        assert delivery["headers"]["X-Razorpay-Signature"] == expected
        assert delivery["headers"]["X-Razorpay-Event-Id"]
    return [json.loads(r["body"]) for r in found[:count]]


def settle_now(control):
    control.post("/_sandbox/refunds/mode", {"gateway": "razorpay", "mode": "instant"})


def test_full_refund_marks_the_payment_refunded(razorpay_client, control, reference):
    pay_id = paid_payment(razorpay_client, control)
    settle_now(control)
    refund = razorpay_client.payment.refund(pay_id, {"speed": "normal", "receipt": "rf-1",
                                                     "notes": {"reason": "cancelled"}})
    assert set(refund) == REFUND_KEYS
    assert refund["id"].startswith("rfnd_") and refund["entity"] == "refund"
    assert (refund["amount"], refund["currency"], refund["payment_id"], refund["status"], refund["receipt"]) == (
        123450, "INR", pay_id, "processed", "rf-1")
    assert refund["notes"] == {"reason": "cancelled"} and refund["speed_requested"] == "normal"
    payment = razorpay_client.payment.fetch(pay_id)
    assert set(reference("razorpay/fake_payment.json")) - {"udf"} <= set(payment)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("refunded", 123450, "full")
    assert razorpay_client.refund.fetch(refund["id"]) == refund
    assert razorpay_client.payment.fetch_refund_id(pay_id, refund["id"]) == refund

    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund(pay_id, {"amount": 100})
    assert str(info.value) == "The payment has been fully refunded already"


def test_partial_refunds_then_more_than_is_left(razorpay_client, control, sandbox):
    pay_id = paid_payment(razorpay_client, control)
    first = razorpay_client.payment.refund(pay_id, {"amount": 1000, "receipt": "rf-a"})
    second = razorpay_client.payment.refund(pay_id, {"amount": 500, "receipt": "rf-b"})
    payment = razorpay_client.payment.fetch(pay_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("captured", 1500, "partial")
    listed = razorpay_client.payment.fetch_multiple_refund(pay_id, {"count": 100})
    assert listed["entity"] == "collection" and listed["count"] == 2
    assert [r["id"] for r in listed["items"]] == [second["id"], first["id"]]  # newest first
    assert razorpay_client.payment.fetch_multiple_refund(pay_id, {"count": 1, "skip": 1})["items"][0]["id"] == \
        first["id"]

    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund(pay_id, {"amount": 123450 - 1500 + 1})
    assert str(info.value) == "The refund amount provided is greater than the unrefunded amount"
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund(pay_id, {"amount": 123451})
    assert str(info.value) == "The refund amount provided is greater than amount captured"
    assert len(control.get("/_sandbox/state")["razorpay"]["refunds"]) == 2


def test_the_error_body_is_razorpays(razorpay_client, control, sandbox, reference):
    import requests

    pay_id = paid_payment(razorpay_client, control)
    answer = requests.post(f"{sandbox.servers['razorpay'].base_url}/v1/payments/{pay_id}/refund",
                           json={"amount": 999999}, timeout=5,
                           auth=(sandbox.config.razorpay_key_id, sandbox.config.razorpay_key_secret))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert set(reference("razorpay/bad_request_error.json")["error"]) <= set(error)
    assert (error["code"], error["field"]) == ("BAD_REQUEST_ERROR", "amount")


@pytest.mark.parametrize("body, words", [
    ({"amount": "100"}, "The amount must be an integer."),
    ({"amount": 99}, "The amount must be at least INR 1.00"),
    ({"amount": 100, "reason": "x"}, "reason is/are not required and should not be sent"),
    ({"speed": "warp"}, "The selected speed is invalid."),
])
def test_bad_refund_bodies_are_refused(razorpay_client, control, body, words):
    pay_id = paid_payment(razorpay_client, control)
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund(pay_id, body)
    assert str(info.value) == words
    assert control.get("/_sandbox/state")["razorpay"]["refunds"] == []


def test_unknown_and_failed_payments_cannot_be_refunded(razorpay_client, control):
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund("pay_nope", {"amount": 100})
    assert str(info.value) == "The id provided does not exist"
    link = razorpay_client.payment_link.create(link_params(reference_id=f"r-{time.time_ns()}"))
    failed = control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link["id"], "outcome": "decline"})
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment.refund(failed["payment"]["id"], {"amount": 100})
    assert str(info.value) == "The payment status should be captured for action to be taken"


def test_normal_refunds_are_pending_then_processed(razorpay_client, control, receiver, sandbox):
    pay_id = paid_payment(razorpay_client, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "razorpay", "mode": "settle", "settle_ms": 200})
    refund = razorpay_client.payment.refund(pay_id, {"amount": 2500, "receipt": "rf-s"})
    assert refund["status"] == "pending"
    [created] = events_of(receiver, "refund.created", 1, sandbox)
    assert created["contains"] == ["refund", "payment"]
    assert created["payload"]["refund"]["entity"]["id"] == refund["id"]
    assert created["payload"]["payment"]["entity"]["amount_refunded"] == 2500
    [processed] = events_of(receiver, "refund.processed", 1, sandbox)
    assert processed["payload"]["refund"]["entity"]["status"] == "processed"
    assert razorpay_client.refund.fetch(refund["id"])["status"] == "processed"


def test_a_failed_refund_gives_the_amount_back(razorpay_client, control, receiver, sandbox):
    pay_id = paid_payment(razorpay_client, control)
    control.post("/_sandbox/refunds/mode", {"gateway": "razorpay", "mode": "pending"})
    refund = razorpay_client.payment.refund(pay_id, {})  # no amount: all of it
    assert (refund["amount"], refund["status"]) == (123450, "pending")
    assert razorpay_client.payment.fetch(pay_id)["status"] == "refunded"
    control.post("/_sandbox/refunds/settle", {"gateway": "razorpay", "id": refund["id"], "outcome": "failed"})
    [failed] = events_of(receiver, "refund.failed", 1, sandbox)
    assert failed["payload"]["refund"]["entity"]["status"] == "failed"
    payment = razorpay_client.payment.fetch(pay_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("captured", 0, None)


def test_dashboard_refund_webhooks_are_signed(razorpay_client, control, receiver, sandbox):
    pay_id = paid_payment(razorpay_client, control)
    made = control.post("/_sandbox/refunds", {"gateway": "razorpay", "payment_id": pay_id, "amount_minor": 2500,
                                              "reason": "returned at the shop"})
    assert made["id"].startswith("rfnd_") and made["receipt"] is None
    assert made["notes"] == {"comment": "returned at the shop"}
    [created, processed] = events_of(receiver, "refund.", 2, sandbox)
    assert [created["event"], processed["event"]] == ["refund.created", "refund.processed"]
    assert processed["payload"]["refund"]["entity"]["id"] == made["id"]
    too_much = control.post("/_sandbox/refunds", {"gateway": "razorpay", "payment_id": pay_id,
                                                  "amount_minor": 123450}, expect=409)
    assert "greater than the unrefunded amount" in too_much["error"]


def test_dispute_opened_then_lost_and_another_won(razorpay_client, control, receiver, sandbox):
    pay_id = paid_payment(razorpay_client, control)
    dispute = control.post("/_sandbox/disputes", {"gateway": "razorpay", "payment_id": pay_id})
    assert set(dispute) >= DISPUTE_KEYS and dispute["id"].startswith("disp_")
    assert (dispute["amount"], dispute["status"], dispute["phase"], dispute["amount_deducted"]) == (
        123450, "open", "chargeback", 0)
    assert dispute["respond_by"] > time.time()
    with pytest.raises(BadRequestError) as info:  # no refund while the bank investigates
        razorpay_client.payment.refund(pay_id, {"amount": 100})
    assert "ongoing dispute" in str(info.value)
    assert razorpay_client.dispute.fetch(dispute["id"])["status"] == "open"

    control.post("/_sandbox/disputes/close", {"gateway": "razorpay", "id": dispute["id"], "outcome": "lost"})
    created, lost = events_of(receiver, "payment.dispute.", 2, sandbox)
    assert [created["event"], lost["event"]] == ["payment.dispute.created", "payment.dispute.lost"]
    assert created["contains"] == ["payment", "dispute"]
    assert lost["payload"]["dispute"]["entity"]["status"] == "lost"
    assert lost["payload"]["dispute"]["entity"]["amount_deducted"] == 123450
    assert lost["payload"]["payment"]["entity"]["id"] == pay_id

    other = paid_payment(razorpay_client, control)
    won = control.post("/_sandbox/disputes", {"gateway": "razorpay", "payment_id": other, "amount_minor": 5000})
    control.post("/_sandbox/disputes/close", {"gateway": "razorpay", "id": won["id"], "outcome": "won"})
    events = events_of(receiver, "payment.dispute.", 4, sandbox)
    assert events[3]["event"] == "payment.dispute.won" and events[3]["payload"]["dispute"]["entity"]["amount"] == 5000
    again = control.post("/_sandbox/disputes/close", {"gateway": "razorpay", "id": won["id"], "outcome": "lost"},
                         expect=409)
    assert "already won" in again["error"]


def test_state_shows_refunds_and_disputes(razorpay_client, control):
    pay_id = paid_payment(razorpay_client, control)
    razorpay_client.payment.refund(pay_id, {"amount": 1000, "receipt": "rf-state"})
    control.post("/_sandbox/disputes", {"gateway": "razorpay", "payment_id": pay_id, "amount_minor": 2000})
    state = control.get("/_sandbox/state")["razorpay"]
    assert [r["receipt"] for r in state["refunds"]] == ["rf-state"]
    assert [d["amount"] for d in state["disputes"]] == [2000]
    assert (state["refund_mode"], state["refund_settle_ms"]) == ("settle", 300)  # Razorpay's default
    control.post("/_sandbox/reset", {})
    assert control.get("/_sandbox/state")["razorpay"]["refunds"] == []
