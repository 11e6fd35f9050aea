"""Razorpay incoming half: webhook mapping (pure, from the reference files), signature checks on the
sandbox's real deliveries, return-page verification, and the payments listed on a link."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone
from itertools import count
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from portal.money import Money
from portal.payments.base import (EVENT_CANCELLED, EVENT_EXPIRED, EVENT_FAILED, EVENT_IGNORED, EVENT_PAID,
                                  EVENT_PARTIALLY_PAID, GatewayError, GatewayPayment, LinkRequest, WebhookRejected)
from portal.payments.razorpay import RazorpayGateway, translate, webhooks
from tests.conftest import REFERENCE_DIR

TIMEOUT_S = 2.0
_numbers = count(1)


def reference(name: str) -> dict:
    return json.loads((REFERENCE_DIR / "razorpay" / name).read_text())


# ---- pure: event bodies built from the SDK's own mocks --------------------------------------------------
def event_body(event_type: str, *, amount: int = 1000000, currency: str = "INR", with_payment: bool = True) -> str:
    envelope = reference("fake_payment_authorized_webhook.json")
    payment = envelope["payload"]["payment"]["entity"]
    payment.update(amount=amount, currency=currency)
    link = reference("fake_payment_link.json")
    link.update(reference_id="inv7-razorpay-1", currency=currency)
    payload = {"payment_link": {"entity": link}}
    if with_payment:
        payload["payment"] = {"entity": payment}
    envelope.update(event=event_type, payload=payload, contains=list(payload))
    return json.dumps(envelope)


def parse(body: str, event_id: str = "evt_Fo49sHbQ78PCMI"):
    return webhooks.event_from(body, event_id, RazorpayGateway)


@pytest.mark.parametrize("event_type, kind", [
    ("payment_link.paid", EVENT_PAID),
    ("payment_link.partially_paid", EVENT_PARTIALLY_PAID),
    ("payment_link.cancelled", EVENT_CANCELLED),
    ("payment_link.expired", EVENT_EXPIRED),
    ("payment.failed", EVENT_FAILED),
    ("payment.captured", EVENT_IGNORED),
    ("order.paid", EVENT_IGNORED),
])
def test_event_kinds(event_type, kind):
    event = parse(event_body(event_type))
    assert (event.gateway, event.event_type, event.kind) == ("razorpay", event_type, kind)
    assert event.event_id == "evt_Fo49sHbQ78PCMI"
    assert event.link_id == "plink_Fo48rl281ENAg9" and event.reference == "inv7-razorpay-1"
    if kind in (EVENT_PAID, EVENT_PARTIALLY_PAID):
        assert event.payment == GatewayPayment("pay_6koWN7bvxujzxM", Money(1000000, "INR"))
    else:
        assert event.payment is None  # nothing to apply


@pytest.mark.parametrize("amount, currency, money", [(1000000, "INR", Money(1000000, "INR")),
                                                     (1500, "JPY", Money(1500, "JPY")),
                                                     (1250, "KWD", Money(1250, "KWD"))])
def test_paid_amount_in_iso_minor_units(amount, currency, money):
    assert parse(event_body("payment_link.paid", amount=amount, currency=currency)).payment.amount == money


def test_link_events_need_no_payment_and_reference_may_be_empty():
    body = json.loads(event_body("payment_link.cancelled", with_payment=False))
    body["payload"]["payment_link"]["entity"]["reference_id"] = ""
    event = parse(json.dumps(body))
    assert event.kind == EVENT_CANCELLED and event.link_id == "plink_Fo48rl281ENAg9" and event.reference is None


def _paid_with(**payment_fields) -> str:
    body = json.loads(event_body("payment_link.paid"))
    body["payload"]["payment"]["entity"].update(payment_fields)
    return json.dumps(body)


@pytest.mark.parametrize("body", [
    "", "null", "[]", "{}", "not json", '{"event": 1, "payload": {}}', '{"event": "payment_link.paid"}',
    '{"event": "payment_link.paid", "payload": []}',
    '{"event": "payment_link.paid", "payload": {"payment": {"entity": {"id": "pay_1", "amount": 100}}}}',
    '{"event": "payment_link.cancelled", "payload": {}}',
    event_body("payment_link.paid", with_payment=False),
    _paid_with(amount=1000.5), _paid_with(amount="1000"), _paid_with(amount=True), _paid_with(amount=0),
    _paid_with(amount=-100), _paid_with(id=None), _paid_with(currency="XYZ"), _paid_with(currency=7),
    "[" * 100_000,
], ids=lambda body: body[:40])
def test_malformed_bodies_are_rejected(body):
    with pytest.raises(WebhookRejected):
        parse(body)


def test_event_id_header_any_case():
    assert webhooks.event_id({"x-razorpay-event-id": "evt_1"}) == "evt_1"
    assert webhooks.event_id({"X-Razorpay-Event-Id": "evt_1", "Content-Type": "application/json"}) == "evt_1"
    assert webhooks.event_id({"Content-Type": "application/json"}) is None
    assert webhooks.event_id({"X-Razorpay-Event-Id": ""}) is None


# ---- pure: payments on a link ------------------------------------------------------------------------
def test_link_lists_its_captured_payments():
    link = translate.link_from(reference("fake_payment_link.json"), RazorpayGateway)
    assert link.payments == (GatewayPayment("pay_Fo49sHbQ78PCMI", Money(100, "INR")),)


def test_link_payments_skip_uncaptured_and_null_means_none():
    entity = reference("fake_payment_link.json")
    captured = entity["payments"][0]
    entity["payments"] = [dict(captured, payment_id="pay_failed", status="failed"),
                          dict(captured, payment_id="pay_refunded", status="refunded"), captured]
    assert [p.payment_id for p in translate.link_from(entity, RazorpayGateway).payments] == ["pay_Fo49sHbQ78PCMI"]
    entity["payments"] = None
    assert translate.link_from(entity, RazorpayGateway).payments == ()


def test_unreadable_link_payment_is_an_unexpected_response():
    entity = reference("fake_payment_link.json")
    entity["payments"][0]["amount"] = 100.0
    with pytest.raises(GatewayError) as info:
        translate.link_from(entity, RazorpayGateway)
    assert info.value.code == "unexpected_response"


# ---- against the sandbox: real deliveries, signed as Razorpay signs ------------------------------------
@pytest.fixture
def gateway(gateway_config, control):
    settings = RazorpayGateway.settings_from(gateway_config)
    assert settings is not None and settings.webhook_secret
    # Deliveries fail (nothing listens on port 9) but the sandbox logs each body and its signed headers.
    control.post("/_sandbox/webhooks", {"gateway": "razorpay", "url": "http://127.0.0.1:9/webhooks/razorpay"})
    return RazorpayGateway(settings)


def link_request(amount: str = "2469.00", **extra) -> LinkRequest:
    n = next(_numbers)
    fields = dict(invoice_id=n, invoice_number=f"INV-{n:04d}", amount=Money.parse(amount, "INR"),
                  reference=f"inv{n}-razorpay-{time.time_ns() % 10**9}", description=f"Invoice INV-{n:04d}",
                  customer_name="Asha Traders", customer_email="asha@example.com", customer_phone="+919999999999",
                  return_url="https://portal.example/pay/return?attempt=1",
                  cancel_url="https://portal.example/pay/cancel",
                  expires_at=datetime.now(timezone.utc) + timedelta(days=3))
    return LinkRequest(**{**fields, **extra})


def pay(control, link_id: str, amount_minor: int | None = None) -> dict:
    body = {"gateway": "razorpay", "id": link_id}
    if amount_minor is not None:
        body["amount_minor"] = amount_minor
    return control.post("/_sandbox/pay", body)


def delivered(control, event_type: str, link_id: str, timeout: float = 5.0) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and headers of the sandbox's first attempt at delivering that event."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for delivery in control.deliveries("razorpay"):
            if delivery["type"] == event_type and delivery["headers"] and link_id in delivery["body"]:
                return delivery["body"].encode("utf-8"), delivery["headers"]
        time.sleep(0.02)
    raise AssertionError(f"no {event_type} delivery for {link_id}")


def signed(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rejected(gateway, body: bytes, headers: dict) -> str:
    with pytest.raises(WebhookRejected) as info:
        gateway.verify_webhook(body, headers, TIMEOUT_S)
    return str(info.value)


def test_paid_delivery_verifies(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    payment_id = pay(control, link.link_id)["payment"]["id"]
    body, headers = delivered(control, "payment_link.paid", link.link_id)
    assert gateway.webhook_event_id(body, headers) == headers["X-Razorpay-Event-Id"]
    event = gateway.verify_webhook(body, headers, TIMEOUT_S)
    assert (event.kind, event.link_id, event.reference) == (EVENT_PAID, link.link_id, link.reference)
    assert event.payment == GatewayPayment(payment_id, Money(246900, "INR"))
    assert event.event_id == headers["X-Razorpay-Event-Id"]
    # Header names arrive in any case (WSGI servers, proxies).
    lowered = {name.lower(): value for name, value in headers.items()}
    assert gateway.verify_webhook(body, lowered, TIMEOUT_S) == event


def test_partial_payment_delivery_carries_that_payment(gateway, control):
    request = link_request(accept_partial=True, min_partial=Money.parse("500.00", "INR"))
    link = gateway.create_link(request, TIMEOUT_S)
    first = pay(control, link.link_id, 100000)["payment"]["id"]
    body, headers = delivered(control, "payment_link.partially_paid", link.link_id)
    event = gateway.verify_webhook(body, headers, TIMEOUT_S)
    assert event.kind == EVENT_PARTIALLY_PAID and event.payment == GatewayPayment(first, Money(100000, "INR"))
    second = pay(control, link.link_id)["payment"]["id"]
    body, headers = delivered(control, "payment_link.paid", link.link_id)
    event = gateway.verify_webhook(body, headers, TIMEOUT_S)
    assert event.kind == EVENT_PAID and event.payment == GatewayPayment(second, Money(146900, "INR"))
    fetched = gateway.fetch_link(link.link_id, TIMEOUT_S)
    assert fetched.payments == (GatewayPayment(first, Money(100000, "INR")),
                                GatewayPayment(second, Money(146900, "INR")))


def test_cancel_and_expiry_deliveries(gateway, control):
    cancelled = gateway.create_link(link_request(), TIMEOUT_S)
    gateway.cancel_link(cancelled.link_id, TIMEOUT_S)
    event = gateway.verify_webhook(*delivered(control, "payment_link.cancelled", cancelled.link_id), TIMEOUT_S)
    assert (event.kind, event.link_id, event.payment) == (EVENT_CANCELLED, cancelled.link_id, None)
    expired = gateway.create_link(link_request(), TIMEOUT_S)
    control.post("/_sandbox/expire", {"gateway": "razorpay", "id": expired.link_id})
    event = gateway.verify_webhook(*delivered(control, "payment_link.expired", expired.link_id), TIMEOUT_S)
    assert (event.kind, event.link_id, event.reference) == (EVENT_EXPIRED, expired.link_id, expired.reference)


@pytest.fixture
def paid_delivery(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    pay(control, link.link_id)
    return delivered(control, "payment_link.paid", link.link_id)


def test_tampered_body_is_rejected(gateway, paid_delivery):
    body, headers = paid_delivery
    at = body.index(b'"amount":246900') + len(b'"amount":')
    tampered = body[:at] + b"9" + body[at + 1:]   # one byte: 246900 -> 946900
    assert len(tampered) == len(body) and tampered != body
    assert "signature" in rejected(gateway, tampered, headers)


def test_forged_or_missing_signature_is_rejected(gateway, paid_delivery):
    body, headers = paid_delivery
    forged = {**headers, "X-Razorpay-Signature": signed(body, "not-the-webhook-secret")}
    assert "signature" in rejected(gateway, body, forged)
    assert "signature" in rejected(gateway, body, {**headers, "X-Razorpay-Signature": "é" * 64})  # non-ASCII
    assert "X-Razorpay-Signature" in rejected(
        gateway, body, {k: v for k, v in headers.items() if k != "X-Razorpay-Signature"})


def test_wrong_or_missing_secret_is_rejected(gateway, paid_delivery):
    body, headers = paid_delivery
    other = RazorpayGateway(dataclasses.replace(gateway.settings, webhook_secret="another_webhook_secret"))
    assert "signature" in rejected(other, body, headers)
    unset = RazorpayGateway(dataclasses.replace(gateway.settings, webhook_secret=None))
    assert "RAZORPAY_WEBHOOK_SECRET" in rejected(unset, body, headers)


def test_missing_event_id_is_rejected(gateway, paid_delivery):
    body, headers = paid_delivery
    without = {k: v for k, v in headers.items() if k != "X-Razorpay-Event-Id"}
    assert gateway.webhook_event_id(body, without) is None
    assert "X-Razorpay-Event-Id" in rejected(gateway, body, without)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"event": "payment_link.paid", "payload": {}}',
                                  "[".encode() * 100_000])
def test_correctly_signed_garbage_is_rejected(gateway, body):
    headers = {"X-Razorpay-Signature": signed(body, gateway.settings.webhook_secret), "X-Razorpay-Event-Id": "e1"}
    rejected(gateway, body, headers)


def test_non_utf8_body_is_rejected(gateway):
    body = b'{"event": "payment_link.paid", "x": "\xff\xfe"}'
    headers = {"X-Razorpay-Signature": signed(body, gateway.settings.webhook_secret), "X-Razorpay-Event-Id": "e1"}
    assert "UTF-8" in rejected(gateway, body, headers)


# ---- return page ---------------------------------------------------------------------------------------
def hosted_redirect(link) -> dict[str, str]:
    """Open the hosted page, press Pay, and read the callback query from the redirect, as a browser would."""
    assert requests.get(link.url, timeout=5).status_code == 200
    answer = requests.post(link.url + "/pay", data={}, allow_redirects=False, timeout=5)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://portal.example/pay/return"
    return dict(parse_qsl(location.query, keep_blank_values=True))


def test_genuine_return_gives_the_paid_link(gateway):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    params = hosted_redirect(link)
    assert params.pop("attempt") == "1"   # our own query survives
    back = gateway.verify_return(params, link.link_id, TIMEOUT_S)
    assert back.status == "paid" and back.amount_paid == Money(246900, "INR")
    assert back.payments == (GatewayPayment(params["razorpay_payment_id"], Money(246900, "INR")),)
    # Extra parameters (an "amount" a customer typed into the URL) are not signed and not read.
    assert gateway.verify_return({**params, "amount": "1"}, link.link_id, TIMEOUT_S) == back


def test_partial_return_gives_the_partially_paid_link(gateway, control):
    link = gateway.create_link(link_request(accept_partial=True), TIMEOUT_S)
    params = pay(control, link.link_id, 50000)["callback"]
    assert params["razorpay_payment_link_status"] == "partially_paid"
    back = gateway.verify_return(params, link.link_id, TIMEOUT_S)
    assert back.status == "partially_paid" and back.is_live
    assert back.payments == (GatewayPayment(params["razorpay_payment_id"], Money(50000, "INR")),)


@pytest.mark.parametrize("name, value", [("razorpay_payment_id", "pay_Fo49sHbQ78PCMI"),
                                         ("razorpay_payment_link_status", "partially_paid"),
                                         ("razorpay_payment_link_reference_id", "someone-else"),
                                         ("razorpay_signature", "0" * 64),
                                         ("razorpay_signature", "é" * 64)])
def test_changed_return_params_are_rejected(gateway, control, name, value):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    params = pay(control, link.link_id)["callback"]
    with pytest.raises(WebhookRejected):
        gateway.verify_return({**params, name: value}, link.link_id, TIMEOUT_S)


def test_return_for_another_link_is_rejected(gateway, control):
    paid = gateway.create_link(link_request(), TIMEOUT_S)
    other = gateway.create_link(link_request(), TIMEOUT_S)
    params = pay(control, paid.link_id)["callback"]
    with pytest.raises(WebhookRejected, match="another payment link"):
        gateway.verify_return(params, other.link_id, TIMEOUT_S)
    # ... and naming the other link in the params breaks the signature.
    with pytest.raises(WebhookRejected, match="signature"):
        gateway.verify_return({**params, "razorpay_payment_link_id": other.link_id}, other.link_id, TIMEOUT_S)


@pytest.mark.parametrize("name", ["razorpay_payment_id", "razorpay_payment_link_id",
                                  "razorpay_payment_link_reference_id", "razorpay_payment_link_status",
                                  "razorpay_signature"])
def test_return_missing_a_param_is_rejected(gateway, control, name):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    params = pay(control, link.link_id)["callback"]
    del params[name]
    with pytest.raises(WebhookRejected, match=name):
        gateway.verify_return(params, link.link_id, TIMEOUT_S)


def test_return_fetch_failure_is_a_gateway_error(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    params = pay(control, link.link_id)["callback"]
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": "error", "status": 503})
    with pytest.raises(GatewayError):
        gateway.verify_return(params, link.link_id, TIMEOUT_S)


@pytest.mark.parametrize("notes, invoice_id", [
    ({"invoice_id": "12", "invoice_number": "INV-2026-0012"}, 12),
    ({"invoice_id": "abc"}, None), ({"invoice_id": "99999999999"}, None), ({"invoice_id": 12}, None),
    ([], None), (None, None),
])
def test_a_failed_payment_names_our_invoice_through_the_notes_we_gave_the_link(notes, invoice_id):
    envelope = json.loads(event_body("payment.failed"))
    del envelope["payload"]["payment_link"]  # payment.failed carries the payment alone
    envelope["payload"]["payment"]["entity"].update(notes=notes, status="failed",
                                                    error_description="Payment was declined by the bank")
    event = parse(json.dumps(envelope))
    assert (event.kind, event.link_id, event.invoice_id) == (EVENT_FAILED, None, invoice_id)
    assert event.failure == "Payment was declined by the bank" and event.payment is None
