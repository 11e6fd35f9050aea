"""Stripe's incoming half: event mapping (pure), signed deliveries from the sandbox, return-page checks."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace

import pytest
import stripe
from stripe import _webhook as sdk_webhook  # its verify_header reads time.time()

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, GatewaySettings, PaymentEvent, WebhookRejected
from portal.payments.stripe import StripeGateway, translate, webhooks
from portal.payments.stripe import client as stripe_client
from tests.conftest import REFERENCE_DIR
from tests.payments.test_stripe_adapter import TIMEOUT, link_request

SECRET = "whsec_test_mapping"


# ---- pure: event bodies built from the reference fixtures ------------------------------------------
@pytest.fixture(scope="module")
def resources() -> dict:
    return json.loads((REFERENCE_DIR / "stripe" / "fixtures3.json").read_text())["resources"]


@pytest.fixture(scope="module")
def session(resources) -> dict:
    return resources["checkout.session"] | {
        "currency": "inr", "amount_total": 246900, "currency_conversion": None, "status": "complete",
        "payment_status": "paid", "client_reference_id": "inv7-stripe-1", "payment_intent": "pi_paid_1"}


def event(resources, event_type: str, obj: dict) -> dict:
    return resources["event"] | {"id": "evt_mapping_1", "type": event_type, "data": {"object": obj}}


def mapped(resources, event_type: str, obj: dict) -> PaymentEvent:
    return webhooks.to_event(event(resources, event_type, obj), StripeGateway)


@pytest.mark.parametrize("event_type, changes, kind", [
    ("checkout.session.completed", {}, base.EVENT_PAID),
    ("checkout.session.completed", {"payment_status": "unpaid"}, base.EVENT_IGNORED),  # async, not settled
    ("checkout.session.completed", {"payment_status": "no_payment_required"}, base.EVENT_IGNORED),
    ("checkout.session.async_payment_succeeded", {}, base.EVENT_PAID),
    ("checkout.session.async_payment_failed", {"payment_status": "unpaid"}, base.EVENT_FAILED),
    ("checkout.session.expired", {"status": "expired", "payment_status": "unpaid"}, base.EVENT_EXPIRED),
    ("checkout.session.something_new", {}, base.EVENT_IGNORED),
])
def test_session_events(resources, session, event_type, changes, kind):
    got = mapped(resources, event_type, session | changes)
    assert (got.gateway, got.event_id, got.event_type, got.kind) == ("stripe", "evt_mapping_1", event_type, kind)
    assert got.link_id == session["id"] and got.reference == "inv7-stripe-1"
    if kind == base.EVENT_PAID:
        assert got.payment == base.GatewayPayment("pi_paid_1", Money(246900, "INR"))
    else:
        assert got.payment is None


def test_payment_intent_succeeded_is_ignored(resources):
    got = mapped(resources, "payment_intent.succeeded", resources["payment_intent"])
    assert got.kind == base.EVENT_IGNORED and got.link_id is None and got.payment is None


def test_other_events_are_ignored(resources):
    got = webhooks.to_event(resources["event"], StripeGateway)  # the fixture itself: plan.created
    assert got.kind == base.EVENT_IGNORED and got.event_id == resources["event"]["id"] and got.link_id is None


@pytest.mark.parametrize("changes, payment_id", [
    ({"payment_intent": {"id": "pi_expanded", "object": "payment_intent"}}, "pi_expanded"),
    ({"payment_intent": None}, "SESSION"),
])
def test_payment_id_is_the_payment_intent_else_the_session(resources, session, changes, payment_id):
    got = mapped(resources, "checkout.session.completed", session | changes)
    assert got.payment.payment_id == (session["id"] if payment_id == "SESSION" else payment_id)


def test_amount_in_iso_units_and_reference_from_metadata(resources, session):
    got = mapped(resources, "checkout.session.completed",
                 session | {"currency": "isk", "amount_total": 50000, "client_reference_id": None,
                            "metadata": {"reference": "r-9"}})
    assert got.payment.amount == Money(500, "ISK") and got.reference == "r-9"


def test_same_payment_id_from_webhook_and_from_the_fetched_link(resources, session):
    link = translate.to_link(session, StripeGateway)
    assert link.payments == (mapped(resources, "checkout.session.completed", session).payment,)


@pytest.mark.parametrize("changes, payments", [
    ({}, 1),
    ({"payment_status": "unpaid"}, 0),
    ({"payment_status": "no_payment_required"}, 0),
    ({"status": "open", "payment_status": "unpaid"}, 0),
    ({"status": "expired", "payment_status": "unpaid"}, 0),
])
def test_link_payments(session, changes, payments):
    assert len(translate.to_link(session | changes, StripeGateway).payments) == payments


@pytest.mark.parametrize("body", [
    {"id": "evt_1", "object": "event", "type": "checkout.session.completed"},  # no data
    {"id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {"object": []}},
    {"id": "evt_1", "object": "event", "data": {"object": {}}},  # no type
    {"object": "event", "type": "x.y", "data": {"object": {}}},  # no id
    {"id": "evt_1", "object": "event", "type": "checkout.session.completed",
     "data": {"object": {"object": "payment_intent", "id": "pi_1"}}},
])
def test_malformed_events_are_rejected(body):
    with pytest.raises(WebhookRejected):
        webhooks.to_event(body, StripeGateway)


@pytest.mark.parametrize("changes", [
    {"amount_total": None}, {"amount_total": "246900"}, {"amount_total": -1}, {"amount_total": True},
    {"currency": None}, {"currency": "zzz"}, {"currency": "isk", "amount_total": 50050}, {"id": None},
])
def test_paid_events_with_bad_amounts_are_rejected(resources, session, changes):
    with pytest.raises(WebhookRejected):
        mapped(resources, "checkout.session.completed", session | changes)


@pytest.mark.parametrize("raw, expected", [
    (b'{"id": "evt_1", "object": "event"}', "evt_1"),
    (b'{"id": 7}', None), (b'{"id": ""}', None), (b"[1]", None), (b"{", None), (b"\xff\xfe\x00", None),
    (b"[" * 100_000, None), (b"", None),
])
def test_event_id_is_lenient(raw, expected):
    assert webhooks.event_id(raw) == expected


def test_header_is_found_whatever_its_case():
    assert webhooks.header({"stripe-signature": "t=1,v1=a"}, "Stripe-Signature") == "t=1,v1=a"
    assert webhooks.signed_at("v1=a,t=12,t=99") == 12 and webhooks.signed_at("v1=a") is None


@contextmanager
def clock_at(monkeypatch, now: int):
    """Both clocks that judge a signature's age (the SDK's and ours) read `now`."""
    with monkeypatch.context() as patch:
        fake = SimpleNamespace(time=lambda: now, monotonic=time.monotonic)
        patch.setattr(sdk_webhook, "time", fake)
        patch.setattr(stripe_client, "time", fake)
        yield


def sign(body: bytes, secret: str, timestamp: int) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)
    return {"Stripe-Signature": header}


@pytest.mark.parametrize("skew, accepted", [(-300, True), (300, True), (-301, False), (301, False)])
def test_tolerance_on_both_sides(resources, session, monkeypatch, skew, accepted):
    gateway = StripeGateway(GatewaySettings(api_base="http://127.0.0.1:9", key_id="sk_test_x", webhook_secret=SECRET))
    body = json.dumps(event(resources, "checkout.session.completed", session)).encode()
    now = 1_800_000_000
    with clock_at(monkeypatch, now):
        if accepted:
            assert gateway.verify_webhook(body, sign(body, SECRET, now + skew), TIMEOUT).kind == base.EVENT_PAID
        else:
            with pytest.raises(WebhookRejected, match="in the future" if skew > 0 else "outside the tolerance"):
                gateway.verify_webhook(body, sign(body, SECRET, now + skew), TIMEOUT)


# ---- signed deliveries from the sandbox ----------------------------------------------------------
@pytest.fixture
def gateway(gateway_config, control):
    control.post("/_sandbox/webhooks", {"gateway": "stripe", "url": "http://127.0.0.1:9/x"})  # fails, still logged
    return StripeGateway(StripeGateway.settings_from(gateway_config))


def delivered(control, event_type: str, about: str) -> tuple[bytes, dict]:
    """The body bytes and last headers of the sandbox's delivery of `event_type` whose body names `about`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for item in control.deliveries("stripe"):
            if item["type"] == event_type and item["headers"].get("Stripe-Signature") \
                    and about in item["body"]:
                return item["body"].encode(), item["headers"]
        time.sleep(0.02)
    raise AssertionError(f"no {event_type} delivery about {about}")


def paid_session(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    return link


def test_delivered_payment_verifies_as_paid(gateway, control):
    link = paid_session(gateway, control)
    body, headers = delivered(control, "checkout.session.completed", link.link_id)
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    intent = json.loads(body)["data"]["object"]["payment_intent"]
    assert got.kind == base.EVENT_PAID and got.link_id == link.link_id and got.reference == link.reference
    assert intent.startswith("pi_") and got.payment == base.GatewayPayment(intent, Money(246900, "INR"))
    assert got.event_id == gateway.webhook_event_id(body, headers) == json.loads(body)["id"]

    body, headers = delivered(control, "payment_intent.succeeded", intent)
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert got.kind == base.EVENT_IGNORED and got.payment is None


def test_delivered_expiry_verifies_as_expired(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/expire", {"gateway": "stripe", "id": link.link_id})
    body, headers = delivered(control, "checkout.session.expired", link.link_id)
    got = gateway.verify_webhook(body, headers, TIMEOUT)
    assert (got.kind, got.link_id, got.payment) == (base.EVENT_EXPIRED, link.link_id, None)


def rejections(gateway, body: bytes, headers: dict, now: int) -> list[tuple[bytes, dict, str]]:
    """(body, headers, why) for each delivery that must be refused."""
    secret = gateway.settings.webhook_secret
    tampered = body.replace(b"246900", b"246901")
    assert tampered != body
    signature = headers["Stripe-Signature"]
    malformed = b'{"id": "evt_x", "object": "event", "type": "checkout.session.completed"'
    thin = b'{"object": "v2.core.event", "id": "evt_thin"}'
    deep = b"[" * 50_000
    latin1 = '{"id": "evt_é", "object": "event"}'.encode("latin-1")
    latin1_mac = hmac.new(secret.encode(), f"{now}.".encode() + latin1, hashlib.sha256).hexdigest()
    forged_mac = hmac.new(b"whsec_guess", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    mismatch = "No signatures found matching"
    return [
        (tampered, headers, mismatch),
        (body, {"Stripe-Signature": f"t={now},v1={forged_mac}"}, mismatch),
        (body, {"Stripe-Signature": signature.replace("v1=", "v0=")}, "expected scheme v1"),
        (body, {"Stripe-Signature": "garbage"}, "Unable to extract"),
        (body, sign(body, "whsec_wrong", now), mismatch),
        (body, {}, "no Stripe-Signature header"),
        (body, {"Stripe-Signature": ""}, "no Stripe-Signature header"),
        (body, sign(body, secret, now - 301), "outside the tolerance"),
        (body, sign(body, secret, now + 301), "in the future"),
        (malformed, sign(malformed, secret, now), "not UTF-8 JSON"),
        (b"[1, 2]", sign(b"[1, 2]", secret, now), "not a Stripe event"),
        (thin, sign(thin, secret, now), "not a Stripe event"),
        (latin1, {"Stripe-Signature": f"t={now},v1={latin1_mac}"}, "not UTF-8"),
        (deep, sign(deep, secret, now), "not UTF-8 JSON"),
    ]


def test_bad_deliveries_are_rejected(gateway, control, monkeypatch):
    link = paid_session(gateway, control)
    body, headers = delivered(control, "checkout.session.completed", link.link_id)
    now = int(time.time())
    with clock_at(monkeypatch, now):  # so that 301 s is exactly 301 s however long the loop takes
        for raw, bad_headers, why in rejections(gateway, body, headers, now):
            with pytest.raises(WebhookRejected, match=why):  # and never any other exception
                gateway.verify_webhook(raw, bad_headers, TIMEOUT)
    assert gateway.verify_webhook(body, headers, TIMEOUT).kind == base.EVENT_PAID  # the real one still passes


def test_no_secret_configured_rejects(gateway, control):
    link = paid_session(gateway, control)
    body, headers = delivered(control, "checkout.session.completed", link.link_id)
    unset = StripeGateway(replace(gateway.settings, webhook_secret=None))
    with pytest.raises(WebhookRejected):
        unset.verify_webhook(body, headers, TIMEOUT)


# ---- return page -------------------------------------------------------------------------------------
def test_return_after_paying_gives_the_paid_link(gateway, control):
    link = paid_session(gateway, control)
    back = gateway.verify_return({"session_id": link.link_id}, link.link_id, TIMEOUT)
    assert back.status == base.LINK_PAID and back.amount_paid == Money(246900, "INR")
    intent = back.raw["payment_intent"]
    assert intent.startswith("pi_") and back.payments == (base.GatewayPayment(intent, Money(246900, "INR")),)


def test_return_for_an_unpaid_session_has_no_payments(gateway):
    link = gateway.create_link(link_request(), TIMEOUT)
    back = gateway.verify_return({"session_id": link.link_id}, link.link_id, TIMEOUT)
    assert back.status == base.LINK_CREATED and back.payments == ()


@pytest.mark.parametrize("params", [{}, {"session_id": ""}, {"session_id": "cs_test_other"},
                                    {"session_id": "{CHECKOUT_SESSION_ID}"}])
def test_return_naming_another_session_is_rejected(gateway, params):
    link = gateway.create_link(link_request(), TIMEOUT)
    with pytest.raises(WebhookRejected):
        gateway.verify_return(params, link.link_id, TIMEOUT)


def test_return_for_an_unknown_session_is_a_gateway_error(gateway):
    with pytest.raises(GatewayError) as info:
        gateway.verify_return({"session_id": "cs_test_nope"}, "cs_test_nope", TIMEOUT)
    assert info.value.kind == base.NOT_FOUND
