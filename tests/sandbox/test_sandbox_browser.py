"""The hosted pages in a real browser: Chromium pays one link at each gateway, lands on the merchant's
return URL and the merchant receives the signed webhook."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import stripe

@pytest.fixture
def tab(chromium):  # one Chromium per test run, from tests/conftest.py
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def landed(page, receiver, path):
    """The browser is on the merchant's return page; returns its query string as a dict."""
    page.wait_for_url(f"**{path}**")
    url = urlparse(page.url)
    assert url.path == path and "ok" in page.content()
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def webhook(receiver, gateway, predicate):
    for _ in range(50):
        for request in receiver.wait_for(1):
            if request["path"] == f"/webhooks/{gateway}" and predicate(json.loads(request["body"])):
                return request
        time.sleep(0.1)
    raise AssertionError(f"no {gateway} webhook")


def test_stripe_checkout_in_browser(tab, sandbox, stripe_client, receiver):
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "payment", "client_reference_id": "inv_7",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": 1999, "product_data": {"name": "INV-7"}},
                        "quantity": 1}],
        "success_url": receiver.url("/done") + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": receiver.url("/cancelled")})
    tab.goto(session.url)
    assert "19.99" in tab.inner_text("#amount")
    tab.click("#pay")
    assert landed(tab, receiver, "/done") == {"session_id": session.id}
    delivery = webhook(receiver, "stripe", lambda e: e["type"] == "checkout.session.completed")
    event = stripe.Webhook.construct_event(delivery["body"].decode(), delivery["headers"]["Stripe-Signature"],
                                           sandbox.config.stripe_webhook_secret)
    assert event.data.object.payment_status == "paid" and event.data.object.client_reference_id == "inv_7"


def test_razorpay_link_in_browser(tab, sandbox, razorpay_client, receiver):
    link = razorpay_client.payment_link.create({
        "amount": 50000, "currency": "INR", "reference_id": "INV-8-a1", "description": "Invoice INV-8",
        "callback_url": receiver.url("/razorpay/callback"), "callback_method": "get"})
    tab.goto(link["short_url"])
    assert "500.00" in tab.inner_text("#amount")
    tab.click("#pay")
    query = landed(tab, receiver, "/razorpay/callback")
    assert razorpay_client.utility.verify_payment_link_signature({
        "razorpay_payment_id": query["razorpay_payment_id"], "payment_link_id": query["razorpay_payment_link_id"],
        "payment_link_reference_id": query["razorpay_payment_link_reference_id"],
        "payment_link_status": query["razorpay_payment_link_status"], "razorpay_signature": query["razorpay_signature"]})
    delivery = webhook(receiver, "razorpay", lambda e: e["event"] == "payment_link.paid")
    assert razorpay_client.utility.verify_webhook_signature(delivery["body"].decode(),
                                                            delivery["headers"]["X-Razorpay-Signature"],
                                                            sandbox.config.razorpay_webhook_secret)


def test_paypal_approval_in_browser(tab, sandbox, receiver):
    base = sandbox.servers["paypal"].base_url
    token = requests.post(f"{base}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(sandbox.config.paypal_client_id, sandbox.config.paypal_client_secret),
                          timeout=5).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    order = requests.post(f"{base}/v2/checkout/orders", headers=headers, timeout=5, json={
        "intent": "CAPTURE",
        "purchase_units": [{"invoice_id": "INV-9-a1", "amount": {"currency_code": "USD", "value": "12.50"}}],
        "payment_source": {"paypal": {"experience_context": {
            "return_url": receiver.url("/paypal/return"), "cancel_url": receiver.url("/paypal/cancel"),
            "user_action": "PAY_NOW"}}}}).json()
    approve = next(l["href"] for l in order["links"] if l["rel"] == "payer-action")
    tab.goto(approve)
    assert "12.50 USD" in tab.inner_text("#amount")
    tab.click("#pay")
    query = landed(tab, receiver, "/paypal/return")
    assert query["token"] == order["id"] and query["PayerID"]
    webhook(receiver, "paypal", lambda e: e["event_type"] == "CHECKOUT.ORDER.APPROVED")
    captured = requests.post(f"{base}/v2/checkout/orders/{query['token']}/capture", headers=headers, json={},
                             timeout=5)
    assert captured.status_code == 201 and captured.json()["status"] == "COMPLETED"
    webhook(receiver, "paypal", lambda e: e["event_type"] == "PAYMENT.CAPTURE.COMPLETED")
