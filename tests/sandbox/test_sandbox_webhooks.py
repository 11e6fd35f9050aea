"""Webhook delivery: asynchronous, retried with backoff on non-2xx and timeouts, logged, and the
webhook fault modes (off, duplicate, reorder, delay) plus byte-for-byte redelivery."""

from __future__ import annotations

import json
import time

import razorpay
import stripe


def make_link(client, reference_id):
    return client.payment_link.create({"amount": 50000, "currency": "INR", "reference_id": reference_id})


def pay(control, gateway, object_id, **extra):
    return control.post("/_sandbox/pay", {"gateway": gateway, "id": object_id, **extra})


def test_retries_on_500_with_backoff_until_2xx(razorpay_client, control, receiver):
    receiver.statuses = [500, 503]
    link = make_link(razorpay_client, "retry-1")
    pay(control, "razorpay", link["id"])
    attempts = receiver.wait_for(3)
    assert [a["status"] for a in attempts] == [500, 503, 200]
    assert attempts[0]["body"] == attempts[1]["body"] == attempts[2]["body"]
    assert len({a["headers"]["X-Razorpay-Event-Id"] for a in attempts}) == 1
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:])]
    assert gaps[1] > gaps[0] * 1.3  # backoff grows
    (delivery,) = wait_delivered(control, "razorpay")
    assert delivery["response_codes"] == [500, 503, 200] and delivery["status"] == "delivered"
    assert delivery["event_id"] == attempts[0]["headers"]["X-Razorpay-Event-Id"]


def test_gives_up_after_max_attempts(razorpay_client, control, receiver, sandbox):
    receiver.statuses = [500] * 10
    pay(control, "razorpay", make_link(razorpay_client, "fail-1")["id"])
    receiver.wait_for(sandbox.config.webhook_max_attempts)
    (delivery,) = wait_delivered(control, "razorpay", status="failed")
    assert len(delivery["attempts"]) == sandbox.config.webhook_max_attempts


def test_timeout_counts_as_failure_and_is_retried(razorpay_client, control, receiver, sandbox):
    sandbox.webhooks.timeout_s = 0.3
    try:
        receiver.sleep_s = 0.6
        pay(control, "razorpay", make_link(razorpay_client, "slow-1")["id"])
        receiver.wait_for(1)
        receiver.sleep_s = 0
        receiver.wait_for(2)
        (delivery,) = wait_delivered(control, "razorpay")
        assert delivery["attempts"][0]["error"] == "timeout" and delivery["response_codes"][-1] == 200
    finally:
        sandbox.webhooks.timeout_s = sandbox.config.webhook_timeout_s


def test_duplicate_mode_sends_each_event_twice(razorpay_client, control, receiver, sandbox):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "webhooks": "duplicate"})
    pay(control, "razorpay", make_link(razorpay_client, "dup-1")["id"])
    first, second = receiver.wait_for(2)
    assert first["body"] == second["body"]
    assert first["headers"]["X-Razorpay-Event-Id"] == second["headers"]["X-Razorpay-Event-Id"]
    for delivery in (first, second):
        assert razorpay_client.utility.verify_webhook_signature(
            delivery["body"].decode(), delivery["headers"]["X-Razorpay-Signature"], sandbox.config.razorpay_webhook_secret)


def test_reorder_mode_sends_newest_first(razorpay_client, control, receiver):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "webhooks": "reorder", "reorder_window_ms": 200})
    a = make_link(razorpay_client, "order-a")
    b = make_link(razorpay_client, "order-b")
    pay(control, "razorpay", a["id"])
    pay(control, "razorpay", b["id"])
    receiver.wait_for(2)
    paid_ids = [e["payload"]["payment_link"]["entity"]["id"] for e in receiver.events()]
    assert paid_ids == [b["id"], a["id"]]


def test_delay_mode(stripe_client, control, receiver):
    control.post("/_sandbox/faults", {"gateway": "stripe", "webhooks": "delay", "delay_ms": 400})
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "http://x/ok",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}},
                        "quantity": 1}]})
    started = time.time()
    pay(control, "stripe", session.id)
    receiver.wait_for(2)
    assert receiver.requests[0]["at"] - started >= 0.35


def test_off_mode_drops_and_redeliver_sends_the_same_bytes(razorpay_client, control, receiver, sandbox):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "webhooks": "off"})
    pay(control, "razorpay", make_link(razorpay_client, "off-1")["id"])
    time.sleep(0.2)
    assert receiver.requests == []
    (dropped,) = control.deliveries("razorpay")
    assert dropped["status"] == "dropped" and dropped["attempts"] == []

    again = control.post(f"/_sandbox/deliveries/{dropped['id']}/redeliver")
    assert again["duplicate_of"] == dropped["id"]
    (delivery,) = receiver.wait_for(1)
    assert delivery["body"].decode() == dropped["body"]
    assert razorpay_client.utility.verify_webhook_signature(
        delivery["body"].decode(), delivery["headers"]["X-Razorpay-Signature"], sandbox.config.razorpay_webhook_secret)


def test_stripe_redelivery_is_freshly_signed_and_verifies(stripe_client, control, receiver, sandbox):
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "http://x/ok",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}},
                        "quantity": 1}]})
    control.post("/_sandbox/expire", {"gateway": "stripe", "id": session.id})
    (first,) = receiver.wait_for(1)
    (delivery,) = wait_delivered(control, "stripe")
    control.post(f"/_sandbox/deliveries/{delivery['id']}/redeliver")
    _, second = receiver.wait_for(2)
    assert second["body"] == first["body"]
    event = stripe.Webhook.construct_event(second["body"].decode(), second["headers"]["Stripe-Signature"],
                                           sandbox.config.stripe_webhook_secret)
    assert event.type == "checkout.session.expired"


def test_webhook_target_and_secret_from_control_api(razorpay_client, control, receiver):
    control.post("/_sandbox/webhooks", {"gateway": "razorpay", "url": receiver.url("/custom"), "secret": "s3cret"})
    pay(control, "razorpay", make_link(razorpay_client, "target-1")["id"])
    (delivery,) = receiver.wait_for(1)
    assert delivery["path"] == "/custom"
    assert razorpay.Client().utility.verify_webhook_signature(delivery["body"].decode(),
                                                              delivery["headers"]["X-Razorpay-Signature"], "s3cret")
    assert control.get("/_sandbox/state")["razorpay"]["webhooks"]["target"] == receiver.url("/custom")


def wait_delivered(control, gateway, status="delivered", timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        deliveries = control.deliveries(gateway)
        if deliveries and all(d["status"] == status for d in deliveries):
            return deliveries
        time.sleep(0.05)
    raise AssertionError(json.dumps(control.deliveries(gateway), indent=1)[:2000])


def test_expiry_sweeper_expires_what_is_due(stripe_client, razorpay_client, sandbox, receiver):
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "http://x/ok",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}},
                        "quantity": 1}]})
    link = make_link(razorpay_client, "sweep-1")
    # Travel in time by moving the deadlines into the past (the sweeper runs every expiry_sweep_s).
    with sandbox.gateways["stripe"].lock:
        sandbox.gateways["stripe"].sessions[session.id]["expires_at"] = int(time.time()) - 1
    with sandbox.gateways["razorpay"].lock:
        sandbox.gateways["razorpay"].links[link["id"]]["expire_by"] = int(time.time()) - 1
    receiver.wait_for(2)
    assert sorted(e.get("type") or e.get("event") for e in receiver.events()) == [
        "checkout.session.expired", "payment_link.expired"]
