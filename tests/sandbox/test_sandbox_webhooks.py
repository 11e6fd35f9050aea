"""Webhook delivery: asynchronous, retried with backoff on non-2xx and timeouts, logged, and the
webhook fault modes (off, duplicate, reorder, delay) plus byte-for-byte redelivery."""

from __future__ import annotations

import base64
import json
import time
import zlib

import razorpay
import requests
import stripe
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from razorpay.errors import SignatureVerificationError


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
    control.post("/_sandbox/faults", {"gateway": "razorpay", "webhooks": "reorder", "reorder_window_ms": 2000})
    a = make_link(razorpay_client, "order-a")
    b = make_link(razorpay_client, "order-b")
    pay(control, "razorpay", a["id"])
    pay(control, "razorpay", b["id"])
    receiver.wait_for(2, timeout=10)  # the window is wide so a busy machine still pays both inside it
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


def test_every_event_type_verifies_with_the_official_verifiers(stripe_client, razorpay_client, sandbox, control,
                                                               receiver):
    line_items = [{"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}}, "quantity": 1}]
    sessions = [stripe_client.v1.checkout.sessions.create(params={"mode": "payment", "success_url": "http://x/",
                                                                  "line_items": line_items}) for _ in range(3)]
    pay(control, "stripe", sessions[0].id)
    pay(control, "stripe", sessions[1].id, outcome="decline")
    control.post("/_sandbox/expire", {"gateway": "stripe", "id": sessions[2].id})

    links = [razorpay_client.payment_link.create({"amount": 1000, "reference_id": f"all-{i}", "accept_partial": True,
                                                  "first_min_partial_amount": 100}) for i in range(3)]
    pay(control, "razorpay", links[0]["id"], amount_minor=400)
    pay(control, "razorpay", links[0]["id"])
    razorpay_client.payment_link.cancel(links[1]["id"])
    control.post("/_sandbox/expire", {"gateway": "razorpay", "id": links[2]["id"]})

    base = sandbox.servers["paypal"].base_url
    token = requests.post(f"{base}/v1/oauth2/token", data={"grant_type": "client_credentials"}, timeout=5,
                          auth=(sandbox.config.paypal_client_id, sandbox.config.paypal_client_secret)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for outcome in ("success", "deny"):
        order = requests.post(f"{base}/v2/checkout/orders", headers=headers, timeout=5, json={
            "intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "5.00"}}]}).json()
        pay(control, "paypal", order["id"], outcome=outcome, capture=True)

    expected = {
        "stripe": {"checkout.session.completed", "payment_intent.succeeded", "payment_intent.payment_failed",
                   "checkout.session.expired"},
        "razorpay": {"payment_link.partially_paid", "payment_link.paid", "payment_link.cancelled",
                     "payment_link.expired"},
        "paypal": {"CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"},
    }
    deliveries = receiver.wait_for(4 + 4 + 4)
    seen = {gateway: set() for gateway in expected}
    for delivery in deliveries:
        gateway = delivery["path"].rsplit("/", 1)[-1]
        body, sent = delivery["body"], delivery["headers"]
        tampered = body.replace(b"}", b" }", 1)
        if gateway == "stripe":
            secret = sandbox.config.stripe_webhook_secret
            event = stripe.Webhook.construct_event(body.decode(), sent["Stripe-Signature"], secret)
            seen[gateway].add(event.type)
            try:
                stripe.Webhook.construct_event(tampered.decode(), sent["Stripe-Signature"], secret)
                raise AssertionError("tampered Stripe body verified")
            except stripe.SignatureVerificationError:
                pass
        elif gateway == "razorpay":
            secret = sandbox.config.razorpay_webhook_secret
            utility = razorpay_client.utility
            assert utility.verify_webhook_signature(body.decode(), sent["X-Razorpay-Signature"], secret)
            seen[gateway].add(json.loads(body)["event"])
            try:
                utility.verify_webhook_signature(tampered.decode(), sent["X-Razorpay-Signature"], secret)
                raise AssertionError("tampered Razorpay body verified")
            except SignatureVerificationError:
                pass
        else:
            certificate = x509.load_pem_x509_certificate(requests.get(sent["Paypal-Cert-Url"], timeout=5).content)
            for payload, valid in ((body, True), (tampered, False)):
                message = "|".join([sent["Paypal-Transmission-Id"], sent["Paypal-Transmission-Time"],
                                    sandbox.config.paypal_webhook_id, str(zlib.crc32(payload) & 0xFFFFFFFF)])
                try:
                    certificate.public_key().verify(base64.b64decode(sent["Paypal-Transmission-Sig"]),
                                                    message.encode(), padding.PKCS1v15(), hashes.SHA256())
                    assert valid, "tampered PayPal body verified"
                except InvalidSignature:
                    assert not valid, "PayPal signature did not verify"
            seen[gateway].add(json.loads(body)["event_type"])
    assert seen == expected
