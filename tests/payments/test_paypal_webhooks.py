"""PayPal's incoming half: the signed message and event mapping (pure), verify_webhook against the sandbox's
real deliveries (offline certificate and postback paths), and verify_return (capture on the return page)."""
from __future__ import annotations

import base64
import json
import time
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import count

import jsonschema
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, GatewayPayment, LinkRequest, WebhookRejected
from portal.payments.paypal import PayPalGateway, webhooks
from tests.conftest import REFERENCE_DIR

TIMEOUT = 2.0
REFERENCE = REFERENCE_DIR / "paypal"
NOTIFICATIONS = json.loads((REFERENCE / "notifications_webhooks_v1.json").read_text())
PAYMENTS = json.loads((REFERENCE / "payments_payment_v2.json").read_text())
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
_references = count(1)


def validate(spec: dict, component: str, instance) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    jsonschema.Draft4Validator(schema).validate(instance)


# ---- pure: the signed message ---------------------------------------------------------------------------------
def test_crc32_is_unsigned_decimal():
    body = b'{"id":"WH-1"}'
    assert webhooks.crc32_decimal(body) == str(zlib.crc32(body))
    high = next(bytes([i]) for i in range(256) if zlib.crc32(bytes([i])) >= 2**31)  # would be negative if signed
    assert int(webhooks.crc32_decimal(high)) >= 2**31
    assert webhooks.crc32_decimal(b"") == "0"


def test_signed_message_is_the_four_fields_joined_by_pipes():
    body = b'{"id":"WH-1","event_type":"X"}'
    message = webhooks.signed_message("tid-1", "2026-11-27T12:00:00Z", "8PT597110X687430LKGECATA", body)
    assert message == f"tid-1|2026-11-27T12:00:00Z|8PT597110X687430LKGECATA|{zlib.crc32(body)}".encode()


class Signer:
    """A key and self-signed certificate of our own, for offline checks without the sandbox."""

    def __init__(self, not_before: datetime = NOW - timedelta(days=1), not_after: datetime = NOW + timedelta(days=1)):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
        self.certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                            .public_key(self.key.public_key()).serial_number(1)
                            .not_valid_before(not_before).not_valid_after(not_after)
                            .sign(self.key, hashes.SHA256()))

    def headers(self, body: bytes, webhook_id: str, cert_url: str = "https://api-m.paypal.com/v1/certs/C") -> dict:
        tid, when = "b2384410-f8d2-11e8-9d7a-9b2f12e1ff1d", "2026-11-27T12:00:00Z"
        signature = self.key.sign(webhooks.signed_message(tid, when, webhook_id, body), padding.PKCS1v15(),
                                  hashes.SHA256())
        return {"Paypal-Transmission-Id": tid, "Paypal-Transmission-Time": when,
                "Paypal-Transmission-Sig": base64.b64encode(signature).decode(), "Paypal-Cert-Url": cert_url,
                "Paypal-Auth-Algo": "SHA256withRSA"}


@pytest.fixture(scope="module")
def signer():
    return Signer()


def test_offline_check_accepts_only_the_exact_body_and_our_webhook_id(signer):
    body = b'{"id":"WH-1"}'
    transmission = webhooks.transmission_from(signer.headers(body, "OURID"))
    webhooks.check_signature(signer.certificate, transmission, "OURID", body, NOW)
    with pytest.raises(WebhookRejected, match="does not match"):
        webhooks.check_signature(signer.certificate, transmission, "OURID", body + b" ", NOW)
    with pytest.raises(WebhookRejected, match="does not match"):
        webhooks.check_signature(signer.certificate, transmission, "OTHERID", body, NOW)
    with pytest.raises(WebhookRejected, match="does not match"):
        webhooks.check_signature(Signer().certificate, transmission, "OURID", body, NOW)


@pytest.mark.parametrize("not_before, not_after", [(NOW + timedelta(hours=1), NOW + timedelta(days=1)),
                                                    (NOW - timedelta(days=2), NOW - timedelta(days=1))])
def test_offline_check_needs_a_certificate_valid_now(not_before, not_after):
    own = Signer(not_before, not_after)
    body = b'{"id":"WH-1"}'
    with pytest.raises(WebhookRejected, match="not valid now"):
        webhooks.check_signature(own.certificate, webhooks.transmission_from(own.headers(body, "ID")), "ID", body, NOW)


def test_signature_that_is_not_base64_is_rejected(signer):
    headers = {**signer.headers(b"{}", "ID"), "Paypal-Transmission-Sig": "not base64!"}
    with pytest.raises(WebhookRejected, match="base64"):
        webhooks.check_signature(signer.certificate, webhooks.transmission_from(headers), "ID", b"{}", NOW)


@pytest.mark.parametrize("drop", ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG",
                                  "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO"])
def test_every_signature_header_is_required(signer, drop):
    headers = {k: v for k, v in signer.headers(b"{}", "ID").items() if k.upper() != drop}
    with pytest.raises(WebhookRejected, match=drop):
        webhooks.transmission_from(headers)
    with pytest.raises(WebhookRejected, match=drop):
        webhooks.transmission_from({**headers, drop: "  "})


def test_headers_are_case_insensitive_and_the_algorithm_is_checked(signer):
    headers = {k.lower(): v for k, v in signer.headers(b"{}", "ID").items()}
    assert webhooks.transmission_from(headers).auth_algo == "SHA256withRSA"
    with pytest.raises(WebhookRejected, match="AUTH-ALGO"):
        webhooks.transmission_from({**headers, "paypal-auth-algo": "SHA1withRSA"})


PREFIXES = ("https://api.paypal.com/", "https://api-m.paypal.com/", "https://api.sandbox.paypal.com/",
            "https://api-m.sandbox.paypal.com/")


@pytest.mark.parametrize("url, allowed", [
    ("https://api.paypal.com/v1/notifications/certs/CERT-360caa42", True),
    ("https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-1", True),
    ("HTTPS://API.PAYPAL.COM/v1/notifications/certs/CERT-1", True),
    ("http://127.0.0.1:12113/v1/notifications/certs/CERT-1", True),  # the configured API base's origin
    ("http://api.paypal.com/v1/notifications/certs/CERT-1", False),  # plain http for a https prefix
    ("https://api.paypal.com.evil.example/cert", False),
    ("https://api.paypal.com@evil.example/cert", False),
    ("https://evil.example/https://api.paypal.com/cert", False),
    ("https://api.paypal.com:8443/cert", False),
    ("http://127.0.0.1:12114/cert", False),
    ("http://127.0.0.1:12113\\@evil.example/cert", False),
    ("file:///etc/passwd", False),
    ("", False),
])
def test_certificate_hosts(url, allowed):
    assert webhooks.cert_url_allowed(url, PREFIXES, "http://127.0.0.1:12113") is allowed


def test_a_path_prefix_is_respected():
    assert webhooks.cert_url_allowed("https://api.paypal.com/v1/notifications/certs/C",
                                     ("https://api.paypal.com/v1/notifications/certs/",), "")
    assert not webhooks.cert_url_allowed("https://api.paypal.com/v1/oauth2/token",
                                         ("https://api.paypal.com/v1/notifications/certs/",), "")


def test_postback_body_splices_the_raw_event_byte_for_byte(signer):
    raw = b'{ "id" : "WH-1",  "resource": {"amount": {"value": "10.50"}}, "x": "\\u00e9" }'
    transmission = webhooks.transmission_from(signer.headers(raw, "ID"))
    body = webhooks.postback_body(transmission, "ID", raw)
    assert body.endswith(b',"webhook_event":' + raw + b"}")
    sent = json.loads(body)
    assert sent["webhook_id"] == "ID" and sent["transmission_sig"] == transmission.signature
    validate(NOTIFICATIONS, "verify_webhook_signature", sent)


# ---- pure: events -----------------------------------------------------------------------------------------------
def capture_event(event_type: str = "PAYMENT.CAPTURE.COMPLETED", **resource) -> dict:
    capture = {"id": "2GG279541U471931P", "status": "COMPLETED" if "COMPLETED" in event_type else "DECLINED",
               "amount": {"currency_code": "USD", "value": "2469.00"}, "final_capture": True,
               "invoice_id": "inv42-pp-1", "custom_id": "42",
               "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
               "create_time": "2026-11-27T12:00:00Z", "update_time": "2026-11-27T12:00:00Z", **resource}
    return {"id": "WH-58D329510W468432D-8HN650336L201105X", "event_version": "1.0",
            "create_time": "2026-11-27T12:00:01Z", "resource_type": "capture", "resource_version": "2.0",
            "event_type": event_type, "summary": "Payment completed", "resource": capture, "links": []}


def order_event(event_type: str = "CHECKOUT.ORDER.APPROVED") -> dict:
    order = {"id": "5O190127TN364715T", "intent": "CAPTURE", "status": "APPROVED",
             "purchase_units": [{"reference_id": "INV-0042", "invoice_id": "inv42-pp-1",
                                 "amount": {"currency_code": "USD", "value": "2469.00"}}]}
    return {"id": "WH-COC11055RA711503B-4YM959094A144403T", "event_version": "1.0", "resource_type": "checkout-order",
            "resource_version": "2.0", "event_type": event_type, "summary": "An order has been approved by buyer",
            "resource": order, "links": []}


def encode(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_capture_completed_is_paid_with_this_capture():
    event = capture_event()
    validate(NOTIFICATIONS, "event", event)
    validate(PAYMENTS, "capture-2", event["resource"])
    parsed = webhooks.parse_event(encode(event))
    assert parsed.kind == base.EVENT_PAID and parsed.gateway == "paypal"
    assert parsed.event_id == event["id"] and parsed.event_type == "PAYMENT.CAPTURE.COMPLETED"
    assert parsed.link_id == "5O190127TN364715T" and parsed.reference == "inv42-pp-1"
    assert parsed.payment == GatewayPayment("2GG279541U471931P", Money(246900, "USD"))


@pytest.mark.parametrize("value, currency, minor", [("1500", "JPY", 1500), ("1234", "HUF", 123400),
                                                    ("0.01", "USD", 1)])
def test_capture_amounts_are_exact(value, currency, minor):
    parsed = webhooks.parse_event(encode(capture_event(amount={"currency_code": currency, "value": value})))
    assert parsed.payment.amount == Money(minor, currency)


@pytest.mark.parametrize("amount", [{"currency_code": "USD", "value": "10.001"}, {"currency_code": "USD", "value": 10},
                                    {"currency_code": "USD", "value": 10.5}, {"currency_code": "XXQ", "value": "1"},
                                    {"currency_code": "USD", "value": "-1.00"}, {"value": "1.00"}, None, "10.00"])
def test_capture_amount_is_parsed_strictly(amount):
    with pytest.raises(WebhookRejected, match="amount"):
        webhooks.parse_event(encode(capture_event(amount=amount)))


def test_capture_without_an_order_id_is_malformed():
    with pytest.raises(WebhookRejected):
        webhooks.parse_event(encode(capture_event(supplementary_data={})))


def test_capture_denied_is_failed_without_a_payment():
    parsed = webhooks.parse_event(encode(capture_event("PAYMENT.CAPTURE.DENIED")))
    assert parsed.kind == base.EVENT_FAILED and parsed.payment is None
    assert parsed.link_id == "5O190127TN364715T" and parsed.reference == "inv42-pp-1"


def test_order_approved_means_capture_it():
    event = order_event()
    validate(NOTIFICATIONS, "event", event)
    parsed = webhooks.parse_event(encode(event))
    assert parsed.kind == base.EVENT_APPROVED and parsed.payment is None
    assert parsed.link_id == "5O190127TN364715T" and parsed.reference == "inv42-pp-1"


@pytest.mark.parametrize("event", [order_event("CHECKOUT.ORDER.COMPLETED"),
                                   capture_event("PAYMENT.CAPTURE.PENDING", status="PENDING"),
                                   capture_event("PAYMENT.CAPTURE.DECLINED", status="DECLINED"),
                                   {"id": "WH-1", "event_type": "BILLING.SUBSCRIPTION.CREATED", "resource": {}}])
def test_other_events_are_ignored(event):
    parsed = webhooks.parse_event(encode(event))
    assert parsed.kind == base.EVENT_IGNORED and parsed.payment is None and parsed.event_id == event["id"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'"WH-1"', b"\xff\xfe", b'{"id": "WH-1"}',
                                 b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}',
                                 b'{"id": "WH-1", "event_type": "X", "resource": []}',
                                 b'{"id": 5, "event_type": "X", "resource": {}}',
                                 b'{"id": "WH-1", "event_type": "X", "resource": {"v": NaN}}',
                                 b"[" * 100000])
def test_malformed_bodies_are_rejected(raw):
    with pytest.raises(WebhookRejected):
        webhooks.parse_event(raw)


@pytest.mark.parametrize("raw, expected", [(b'{"id": "WH-1"}', "WH-1"), (b'{"id": 1}', None), (b"[]", None),
                                           (b"nope", None), (b"\xff", None), (b"", None), (b"[" * 100000, None),
                                           (json.dumps({"id": "W" * 256}).encode(), None)])
def test_event_id_is_lenient(raw, expected):
    assert webhooks.event_id(raw) == expected


# ---- pure: freshness and what PayPal says ----------------------------------------------------------------------
def _transmission_at(stamp: str) -> webhooks.Transmission:
    return webhooks.Transmission("tid-1", stamp, "c2ln", "https://api-m.paypal.com/v1/certs/C", "SHA256withRSA")


@pytest.mark.parametrize("stamp, tolerance, fresh", [
    ("2026-11-27T12:00:00Z", 300, True), ("2026-11-27T11:55:00Z", 300, True), ("2026-11-27T12:05:00Z", 300, True),
    ("2026-11-27T11:54:59Z", 300, False), ("2026-11-27T12:05:01Z", 300, False),
    ("2026-11-27T13:00:00+01:00", 300, True), ("2026-11-27T11:59:00.123Z", 30, False),
    ("2026-11-20T12:00:00Z", 300, False), ("2027-11-27T12:00:00Z", 300, False),
])
def test_the_transmission_time_must_be_within_the_tolerance_either_way(stamp, tolerance, fresh):
    if fresh:
        webhooks.check_transmission_time(_transmission_at(stamp), NOW, tolerance)
    else:
        with pytest.raises(WebhookRejected, match="transmission time"):
            webhooks.check_transmission_time(_transmission_at(stamp), NOW, tolerance)


@pytest.mark.parametrize("stamp", ["", "yesterday", "2026-11-27T12:00:00", "1732708800", "2026-13-01T00:00:00Z"])
def test_a_transmission_time_that_is_no_date_time_is_rejected(stamp):
    with pytest.raises(WebhookRejected, match="PAYPAL-TRANSMISSION-TIME"):
        webhooks.check_transmission_time(_transmission_at(stamp), NOW, 300)


def test_a_transmission_id_longer_than_paypals_is_rejected(signer):
    headers = signer.headers(b"{}", "ID")
    with pytest.raises(WebhookRejected, match="TRANSMISSION-ID"):
        webhooks.transmission_from({**headers, "Paypal-Transmission-Id": "t" * 101})


def paypal_capture(**changes) -> dict:
    """GET /v2/payments/captures/{id} as PayPal answers it (schema capture-2)."""
    capture = {"id": "2GG279541U471931P", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "2469.00"},
               "final_capture": True, "invoice_id": "inv42-pp-1", "custom_id": "42",
               "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
               "links": [{"href": "https://api-m.paypal.com/v2/checkout/orders/5O190127TN364715T", "rel": "up",
                          "method": "GET"}]}
    capture.update(changes)
    validate(PAYMENTS, "capture-2", capture)
    return capture


def claimed(**resource) -> base.PaymentEvent:
    """What a (possibly forged) body claims: another invoice, order and amount for the same capture id."""
    return webhooks.parse_event(encode(capture_event(
        amount={"currency_code": "EUR", "value": "1.00"}, invoice_id="someone-else", custom_id="7",
        supplementary_data={"related_ids": {"order_id": "9ZZ99999ZZ9999999"}}, **resource)))


def test_a_capture_event_is_rebuilt_from_paypals_answer():
    event = webhooks.confirmed_event(claimed(), paypal_capture())
    assert event.kind == base.EVENT_PAID and event.event_id == "WH-58D329510W468432D-8HN650336L201105X"
    assert event.payment == GatewayPayment("2GG279541U471931P", Money(246900, "USD"))
    assert (event.link_id, event.reference, event.invoice_id) == ("5O190127TN364715T", "inv42-pp-1", 42)


def test_the_order_may_come_from_the_up_link():
    event = webhooks.confirmed_event(claimed(), paypal_capture(supplementary_data={}))
    assert event.link_id == "5O190127TN364715T"


@pytest.mark.parametrize("status, kind", [("REFUNDED", base.EVENT_PAID), ("PARTIALLY_REFUNDED", base.EVENT_PAID),
                                          ("DECLINED", base.EVENT_FAILED), ("FAILED", base.EVENT_FAILED)])
def test_paypals_status_decides(status, kind):
    event = webhooks.confirmed_event(claimed(), paypal_capture(status=status))
    assert event.kind == kind and (event.payment is None) == (kind == base.EVENT_FAILED)


@pytest.mark.parametrize("status", ["PENDING", ["COMPLETED"]])
def test_a_capture_not_completed_at_paypal_is_asked_again_later(status):
    capture = paypal_capture(status="PENDING")
    capture["status"] = status
    with pytest.raises(GatewayError) as info:
        webhooks.confirmed_event(claimed(), capture)
    assert info.value.kind == base.SERVER


@pytest.mark.parametrize("answer", [paypal_capture(id="OTHER0CAPTURE0001"), [], None,
                                    paypal_capture(supplementary_data={}, links=[])])
def test_an_answer_about_something_else_is_rejected(answer):
    with pytest.raises(WebhookRejected):
        webhooks.confirmed_event(claimed(), answer)


@pytest.mark.parametrize("custom_id", [None, "", "INV-42", "4" * 19, "-1"])
def test_a_custom_id_that_is_not_our_invoice_id_is_not_used(custom_id):
    capture = paypal_capture()
    capture.pop("custom_id") if custom_id is None else capture.update(custom_id=custom_id)
    assert webhooks.confirmed_event(claimed(), capture).invoice_id is None


def test_settings_carry_the_certificate_prefixes(gateway_config):
    settings = PayPalGateway.settings_from(gateway_config)
    assert settings.cert_url_prefixes == tuple(gateway_config["PAYPAL_CERT_URL_PREFIXES"])
    assert "https://api-m.paypal.com/" in settings.cert_url_prefixes


# ---- against the sandbox ----------------------------------------------------------------------------------------
@pytest.fixture
def settings(gateway_config):
    return PayPalGateway.settings_from(gateway_config)


def make_gateway(settings, calls: list | None = None) -> PayPalGateway:
    session = requests.Session()
    if calls is not None:
        session.hooks["response"].append(  # (method, url, sent credentials?)
            lambda r, *a, **k: calls.append((r.request.method, r.url, "Authorization" in r.request.headers)))
    return PayPalGateway(settings, session=session)


@pytest.fixture
def gateway(settings):
    return make_gateway(settings)


@pytest.fixture
def hooked(control):
    """Deliveries are attempted (to a closed port), so each gets its signed headers."""
    control.post("/_sandbox/webhooks", {"gateway": "paypal", "url": "http://127.0.0.1:9/x"})
    return control


def link_request(minor: int = 246900, currency: str = "USD") -> LinkRequest:
    reference = f"inv42-wh-{next(_references)}-{time.time_ns() % 10**6}"
    return LinkRequest(invoice_id=42, invoice_number="INV-0042", amount=Money(minor, currency), reference=reference,
                       description="Invoice INV-0042", customer_name="Asha Traders", customer_email="asha@example.com",
                       customer_phone="+919800000000", return_url="https://portal.example/pay/paypal/return",
                       cancel_url="https://portal.example/pay/paypal/cancel",
                       expires_at=datetime.now(timezone.utc) + timedelta(days=7))


def delivery(control, event_type: str, timeout: float = 5.0) -> tuple[bytes, dict]:
    """The body and signed headers of the sandbox's delivery of `event_type`, once it has been attempted."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for item in control.deliveries("paypal"):
            if item["type"] == event_type and item["headers"]:
                return item["body"].encode(), item["headers"]
        time.sleep(0.02)
    raise AssertionError(f"no attempted {event_type} delivery")


def paid_order(gateway, control, outcome: str = "success"):
    """An order made by the adapter, approved by the buyer and captured: (request, captured link)."""
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id, "outcome": outcome})
    return request, gateway.capture_order(link.link_id, request.reference, TIMEOUT)


def cert_gets(calls) -> list:
    return [c for c in calls if c[0] == "GET" and "/v1/notifications/certs/" in c[1]]


def postbacks(calls) -> int:
    return sum(1 for _, url, _ in calls if url.endswith("/v1/notifications/verify-webhook-signature"))


def test_delivered_capture_and_approval_verify_offline(settings, hooked, control):
    calls = []
    gateway = make_gateway(settings, calls)
    request, captured = paid_order(gateway, control)
    body, headers = delivery(control, "PAYMENT.CAPTURE.COMPLETED")
    validate(NOTIFICATIONS, "event", json.loads(body))
    validate(PAYMENTS, "capture-2", json.loads(body)["resource"])

    paid = gateway.verify_webhook(body, headers, TIMEOUT)
    assert paid.kind == base.EVENT_PAID and paid.link_id == captured.link_id and paid.reference == request.reference
    assert paid.event_id == json.loads(body)["id"] == gateway.webhook_event_id(body, headers)
    assert (paid.payment,) == captured.payments and paid.payment.amount == Money(246900, "USD")

    body, headers = delivery(control, "CHECKOUT.ORDER.APPROVED")
    approved = gateway.verify_webhook(body, headers, TIMEOUT)
    assert approved.kind == base.EVENT_APPROVED and approved.link_id == captured.link_id
    assert approved.reference == request.reference
    # Offline: the certificate came from the sandbox (the API base's origin) once, cached; no postback.
    (cert_get,) = cert_gets(calls)
    assert postbacks(calls) == 0 and cert_get[2] is False  # no bearer token sent for the certificate


def test_lower_case_headers_as_a_server_may_pass_them(gateway, hooked, control):
    paid_order(gateway, control)
    body, headers = delivery(control, "PAYMENT.CAPTURE.COMPLETED")
    event = gateway.verify_webhook(body, {k.lower(): v for k, v in headers.items()}, TIMEOUT)
    assert event.kind == base.EVENT_PAID


def test_denied_capture_is_a_failed_event(gateway, hooked, control):
    _, captured = paid_order(gateway, control, outcome="deny")
    assert captured.status == base.LINK_CANCELLED and captured.payments == ()
    body, headers = delivery(control, "PAYMENT.CAPTURE.DENIED")
    event = gateway.verify_webhook(body, headers, TIMEOUT)
    assert event.kind == base.EVENT_FAILED and event.link_id == captured.link_id and event.payment is None


@pytest.fixture
def genuine(gateway, hooked, control):
    paid_order(gateway, control)
    return delivery(control, "PAYMENT.CAPTURE.COMPLETED")


def tampered(body: bytes) -> bytes:
    return body.replace(b'"value":"2469.00"', b'"value":"9469.00"', 1)


def test_tampered_body_is_rejected(gateway, genuine):
    body, headers = genuine
    assert tampered(body) != body
    with pytest.raises(WebhookRejected, match="does not match"):
        gateway.verify_webhook(tampered(body), headers, TIMEOUT)
    with pytest.raises(WebhookRejected, match="does not match"):
        gateway.verify_webhook(body + b"\n", headers, TIMEOUT)  # same JSON, other bytes


def test_forged_signature_is_rejected(gateway, genuine):
    body, headers = genuine
    forger = Signer(datetime.now(timezone.utc) - timedelta(days=1), datetime.now(timezone.utc) + timedelta(days=1))
    forged = forger.headers(body, "ANYID", cert_url=headers["PAYPAL-CERT-URL"])
    for name in ("Paypal-Transmission-Sig", "Paypal-Transmission-Id"):
        with pytest.raises(WebhookRejected, match="does not match"):
            gateway.verify_webhook(body, {**headers, name.upper(): forged[name]}, TIMEOUT)


def test_another_webhook_id_is_rejected(settings, genuine):
    body, headers = genuine
    other = make_gateway(replace(settings, webhook_secret="7YX45398RB9837502"))
    with pytest.raises(WebhookRejected, match="does not match"):
        other.verify_webhook(body, headers, TIMEOUT)


def test_no_webhook_id_configured_rejects(settings, genuine):
    body, headers = genuine
    with pytest.raises(WebhookRejected, match="PAYPAL_WEBHOOK_ID"):
        make_gateway(replace(settings, webhook_secret=None)).verify_webhook(body, headers, TIMEOUT)


@pytest.mark.parametrize("drop", ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG",
                                  "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO"])
def test_missing_header_is_rejected(gateway, genuine, drop):
    body, headers = genuine
    with pytest.raises(WebhookRejected, match=drop):
        gateway.verify_webhook(body, {k: v for k, v in headers.items() if k != drop}, TIMEOUT)
    assert gateway.webhook_event_id(body, {}) == json.loads(body)["id"]  # still stored under its id


def test_certificate_url_that_is_not_one_is_rejected(settings, genuine, sandbox):
    body, headers = genuine
    calls = []
    gateway = make_gateway(settings, calls)
    missing = headers["PAYPAL-CERT-URL"].rsplit("/", 1)[0] + "/CERT-missing"
    with pytest.raises(WebhookRejected, match="no certificate"):
        gateway.verify_webhook(body, {**headers, "PAYPAL-CERT-URL": missing}, TIMEOUT)
    token_url = settings.api_base + "/v1/oauth2/token"  # allowed host, but not a certificate
    with pytest.raises(WebhookRejected):
        gateway.verify_webhook(body, {**headers, "PAYPAL-CERT-URL": token_url}, TIMEOUT)


def test_malformed_but_signed_json_is_rejected(gateway, hooked, control, sandbox):
    paid_order(gateway, control)  # so the certificate URL is the sandbox's
    sign = sandbox.gateways["paypal"].webhook_signer("WH-x")
    for raw in (b"not json", b"[]", b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}',
                json.dumps(capture_event(amount={"currency_code": "USD", "value": "1.001"})).encode()):
        with pytest.raises(WebhookRejected):
            gateway.verify_webhook(raw, sign(raw), TIMEOUT)
    raw = json.dumps(order_event()).encode()
    assert gateway.verify_webhook(raw, sign(raw), TIMEOUT).kind == base.EVENT_APPROVED  # the same signer, well-formed
    raw = json.dumps(capture_event()).encode()  # well-formed and signed, but PayPal has no such capture
    with pytest.raises(WebhookRejected, match="no capture '2GG279541U471931P'"):
        gateway.verify_webhook(raw, sign(raw), TIMEOUT)


# ---- the postback path: certificate on a host we may not fetch from -----------------------------------------------
@pytest.fixture
def elsewhere(settings):
    """The same sandbox reached as `localhost`: its certificate URL (127.0.0.1) is then not an allowed host,
    so the adapter must ask PayPal (the sandbox) through the postback instead."""
    calls = []
    api_base = settings.api_base.replace("127.0.0.1", "localhost")
    return make_gateway(replace(settings, api_base=api_base, cert_url_prefixes=()), calls), calls


def test_postback_accepts_the_genuine_body(elsewhere, genuine):
    gateway, calls = elsewhere
    body, headers = genuine
    event = gateway.verify_webhook(body, headers, TIMEOUT)
    assert event.kind == base.EVENT_PAID
    assert postbacks(calls) == 1 and cert_gets(calls) == []  # never fetched from a host not allowed


def test_postback_rejects_a_tampered_body(elsewhere, genuine):
    gateway, calls = elsewhere
    body, headers = genuine
    with pytest.raises(WebhookRejected, match="does not verify"):
        gateway.verify_webhook(tampered(body), headers, TIMEOUT)
    assert cert_gets(calls) == []


def test_postback_with_another_webhook_id_is_rejected(elsewhere, genuine):
    gateway, _ = elsewhere
    body, headers = genuine
    other = make_gateway(replace(gateway.settings, webhook_secret="7YX45398RB9837502"))
    with pytest.raises(WebhookRejected):
        other.verify_webhook(body, headers, TIMEOUT)


def test_postback_never_sees_a_malformed_body(elsewhere, genuine):
    gateway, calls = elsewhere
    _, headers = genuine
    with pytest.raises(WebhookRejected, match="JSON"):
        gateway.verify_webhook(b'{"id": "WH-1",', headers, TIMEOUT)
    assert calls == []


def test_postback_when_paypal_is_down_is_a_gateway_error(elsewhere, genuine, control):
    """Not a rejection: the delivery may be genuine. The webhook endpoint must not apply it (and PayPal
    retries it, up to 25 times over 3 days)."""
    gateway, _ = elsewhere
    body, headers = genuine
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    with pytest.raises(GatewayError) as info:
        gateway.verify_webhook(body, headers, TIMEOUT)
    assert info.value.kind == base.UNREACHABLE


def test_certificate_download_when_paypal_is_down_is_a_gateway_error(settings, genuine, control):
    body, headers = genuine
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    with pytest.raises(GatewayError):
        make_gateway(settings).verify_webhook(body, headers, TIMEOUT)


def test_cached_certificate_verifies_while_paypal_is_down_but_a_capture_needs_paypal(gateway, genuine, control):
    body, headers = genuine
    gateway.verify_webhook(body, headers, TIMEOUT)
    approved_body, approved_headers = delivery(control, "CHECKOUT.ORDER.APPROVED")
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    assert gateway.verify_webhook(approved_body, approved_headers, TIMEOUT).kind == base.EVENT_APPROVED
    with pytest.raises(GatewayError) as info:  # money is credited only as PayPal reports the capture
        gateway.verify_webhook(body, headers, TIMEOUT)
    assert info.value.kind == base.UNREACHABLE


# ---- verify_return ---------------------------------------------------------------------------------------------
def sandbox_order(control, order_id: str) -> dict:
    return next(o for o in control.get("/_sandbox/state")["paypal"]["orders"] if o["id"] == order_id)


def approved_link(gateway, control):
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    approved = control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id})
    return request, link, approved["redirect"]


def return_params(redirect: str) -> dict:
    from urllib.parse import parse_qsl, urlsplit
    return dict(parse_qsl(urlsplit(redirect).query))


def test_return_after_approval_captures_and_is_paid(gateway, control):
    request, link, redirect = approved_link(gateway, control)
    params = return_params(redirect)
    assert params["token"] == link.link_id and params["PayerID"]
    paid = gateway.verify_return(params, link.link_id, TIMEOUT)
    assert paid.status == base.LINK_PAID and paid.amount_paid == Money(246900, "USD")
    assert paid.reference == request.reference
    (payment,) = paid.payments
    order = sandbox_order(control, link.link_id)
    (capture,) = order["purchase_units"][0]["payments"]["captures"]
    assert payment == GatewayPayment(capture["id"], Money(246900, "USD")) and capture["invoice_id"] == request.reference


def test_return_twice_is_one_capture(gateway, control):
    _, link, redirect = approved_link(gateway, control)
    first = gateway.verify_return(return_params(redirect), link.link_id, TIMEOUT)
    again = gateway.verify_return(return_params(redirect), link.link_id, TIMEOUT)
    assert first.payments == again.payments and len(first.payments) == 1 and again.status == base.LINK_PAID
    assert len(sandbox_order(control, link.link_id)["purchase_units"][0]["payments"]["captures"]) == 1


def test_return_after_the_webhook_job_captured(gateway, control):
    request, link, redirect = approved_link(gateway, control)
    captured = gateway.capture_order(link.link_id, request.reference, TIMEOUT)  # what the background job does
    assert gateway.verify_return(return_params(redirect), link.link_id, TIMEOUT).payments == captured.payments


@pytest.mark.parametrize("params", [{}, {"PayerID": "X"}, {"token": "", "PayerID": "X"},
                                    {"token": "5O190127TN364715T", "PayerID": "X"}])
def test_return_for_another_order_is_rejected(gateway, control, params):
    _, link, _ = approved_link(gateway, control)
    with pytest.raises(WebhookRejected):
        gateway.verify_return(params, link.link_id, TIMEOUT)
    assert sandbox_order(control, link.link_id)["status"] == "APPROVED"  # nothing captured


def test_return_before_approval_captures_nothing(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    answer = gateway.verify_return({"token": link.link_id, "PayerID": "FORGED"}, link.link_id, TIMEOUT)
    assert answer.status == base.LINK_CREATED and answer.payments == () and answer.is_live


def test_return_with_a_denied_capture_is_cancelled(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    approved = control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id, "outcome": "deny"})
    answer = gateway.verify_return(return_params(approved["redirect"]), link.link_id, TIMEOUT)
    assert answer.status == base.LINK_CANCELLED and answer.payments == ()


def test_return_when_paypal_is_down_is_a_gateway_error(gateway, control):
    _, link, redirect = approved_link(gateway, control)
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    with pytest.raises(GatewayError):
        gateway.verify_return(return_params(redirect), link.link_id, TIMEOUT)
