"""PayPal translation, pure: request bodies (validated against the reference OpenAPI schemas), order
responses -> GatewayLink, statuses, HTTP errors and `requests` failures -> GatewayError, declared facts."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
import requests
from urllib3.exceptions import NewConnectionError, ProtocolError

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, LinkRequest
from portal.payments.paypal import PayPalGateway
from portal.payments.paypal import translate
from tests.conftest import REFERENCE_DIR

SPEC = json.loads((REFERENCE_DIR / "paypal" / "checkout_orders_v2.json").read_text())
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
API = "https://api-m.sandbox.paypal.com/v2/checkout/orders/5O190127TN364715T"


def validate(component: str, instance) -> None:
    """Validate against components/schemas/<component>, resolving $refs inside the document."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": SPEC["components"]}
    jsonschema.Draft4Validator(schema).validate(instance)


def link_request(minor: int = 246900, currency: str = "USD", **extra) -> LinkRequest:
    fields = dict(invoice_id=42, invoice_number="INV-0042", amount=Money(minor, currency),
                  reference="inv42-paypal-1", description="Invoice INV-0042 from HisabPro Demo Store",
                  customer_name="Asha Traders", customer_email="asha@example.com", customer_phone="+919800000000",
                  return_url="https://portal.example/pay/paypal/return",
                  cancel_url="https://portal.example/pay/paypal/cancel", expires_at=NOW + timedelta(days=7))
    return LinkRequest(**{**fields, **extra})


# ---- request bodies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("minor, currency, value", [
    (246900, "USD", "2469.00"), (1999, "EUR", "19.99"), (1500, "JPY", "1500"), (123400, "HUF", "1234"),
    (5000, "TWD", "50"), (1, "USD", "0.01"),
])
def test_create_body_amounts_are_exact_strings(minor, currency, value):
    body = translate.order_body(link_request(minor, currency), PayPalGateway)
    assert body["purchase_units"][0]["amount"] == {"currency_code": currency, "value": value}
    validate("order_request", body)


def test_create_body_shape_and_schema():
    request = link_request()
    body = translate.order_body(request, PayPalGateway)
    validate("order_request", body)
    unit = body["purchase_units"][0]
    assert body["intent"] == "CAPTURE"
    assert unit["reference_id"] == "INV-0042" and unit["custom_id"] == "42"
    assert unit["invoice_id"] == request.reference  # unique per attempt (DUPLICATE_INVOICE_ID otherwise)
    assert body["payment_source"]["paypal"]["experience_context"] == {
        "return_url": request.return_url, "cancel_url": request.cancel_url,
        "user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING"}


def test_create_body_respects_field_limits():
    body = translate.order_body(link_request(description="x" * 400, invoice_number=""), PayPalGateway)
    validate("order_request", body)
    unit = body["purchase_units"][0]
    assert len(unit["description"]) == 127 and unit["reference_id"] == "default"
    assert "description" not in translate.order_body(link_request(description=""), PayPalGateway)["purchase_units"][0]


@pytest.mark.parametrize("money, code", [
    (Money(123456, "HUF"), "amount_not_accepted"), (Money(5050, "TWD"), "amount_not_accepted"),
    (Money(99, "HUF"), "amount_not_accepted"), (Money(0, "USD"), "amount_not_accepted"),
    (Money(100000, "INR"), "CURRENCY_NOT_SUPPORTED"), (Money(1000, "KWD"), "CURRENCY_NOT_SUPPORTED"),
])
def test_amounts_paypal_cannot_take_are_refused_before_any_call(money, code):
    assert PayPalGateway.cannot_take(money)
    with pytest.raises(GatewayError) as info:
        translate.order_body(link_request(money.minor, money.currency), PayPalGateway)
    assert info.value.kind == base.REJECTED and info.value.code == code and info.value.surely_not_applied


def test_declared_facts():
    assert PayPalGateway.name == "paypal" and PayPalGateway.display_name == PayPalGateway.customer_label == "PayPal"
    assert "INR" not in PayPalGateway.currencies and {"USD", "EUR", "JPY", "HUF", "TWD"} <= PayPalGateway.currencies
    assert len(PayPalGateway.currencies) == 25
    assert PayPalGateway.gateway_amount(Money(123400, "HUF")) == 1234
    assert PayPalGateway.iso_amount(1234, "HUF") == Money(123400, "HUF")
    assert PayPalGateway.gateway_amount(Money(1500, "JPY")) == 1500
    assert PayPalGateway.cannot_take(Money(123400, "HUF")) is None
    assert PayPalGateway.cannot_take(Money(10**16, "USD"))  # past 15 digits
    assert PayPalGateway.cannot_take(Money(1, "USD")) is None


def test_capture_request_id_differs_from_the_create_key():
    assert translate.capture_request_id("inv42-paypal-1") != "inv42-paypal-1"
    assert len(translate.capture_request_id("r" * 40)) <= 108  # parameter paypal_request_id maxLength


def test_value_string():
    assert translate.value_string(0, 2) == "0.00" and translate.value_string(5, 2) == "0.05"
    assert translate.value_string(1234, 0) == "1234" and translate.value_string(1234, 3) == "1.234"


# ---- settings -----------------------------------------------------------------------------------------
CONFIG = {"PAYPAL_CLIENT_ID": "AClientId", "PAYPAL_CLIENT_SECRET": "ESecret", "PAYPAL_WEBHOOK_ID": "8PT597110X687430L",
          "PAYPAL_MODE": "sandbox", "PAYPAL_API_BASE": "https://api-m.sandbox.paypal.com",
          "GATEWAY_TIMEOUT_SECONDS": "2.5"}


def test_settings_from_config():
    settings = PayPalGateway.settings_from(CONFIG)
    assert settings.key_id == "AClientId" and settings.key_secret == "ESecret"
    assert settings.webhook_secret == "8PT597110X687430L" and settings.timeout == 2.5 and not settings.live
    assert PayPalGateway.settings_from({**CONFIG, "PAYPAL_MODE": "live"}).live
    assert PayPalGateway.settings_from({**CONFIG, "PAYPAL_CLIENT_SECRET": None}) is None
    assert PayPalGateway.settings_from({**CONFIG, "PAYPAL_CLIENT_ID": ""}) is None
    assert PayPalGateway.configuration_problems(CONFIG) == []


@pytest.mark.parametrize("change, fragment", [
    ({"PAYPAL_CLIENT_ID": None}, "PAYPAL_CLIENT_SECRET is set but PAYPAL_CLIENT_ID is not"),
    ({"PAYPAL_CLIENT_SECRET": None}, "PAYPAL_CLIENT_ID is set but PAYPAL_CLIENT_SECRET is not"),
    ({"PAYPAL_CLIENT_SECRET": "ESecret\n"}, "PAYPAL_CLIENT_SECRET contains spaces"),
    ({"PAYPAL_WEBHOOK_ID": "https://portal.example/webhooks/paypal"}, "PAYPAL_WEBHOOK_ID should be"),
    ({"PAYPAL_MODE": "production"}, "PAYPAL_MODE must be sandbox or live"),
    ({"PAYPAL_API_BASE": "api-m.paypal.com"}, "PAYPAL_API_BASE must be an http(s) URL"),
    ({"PAYPAL_MODE": "live"}, "PAYPAL_MODE is live but PAYPAL_API_BASE is PayPal's sandbox"),
    ({"PAYPAL_API_BASE": "https://api-m.paypal.com"}, "PAYPAL_API_BASE is live PayPal"),
])
def test_configuration_problems(change, fragment):
    problems = PayPalGateway.configuration_problems({**CONFIG, **change})
    assert len(problems) == 1 and fragment in problems[0]


# ---- responses ----------------------------------------------------------------------------------------
def order(status: str, rel: str | None = None, captures=None, value="2469.00", currency="USD") -> dict:
    body = {"id": "5O190127TN364715T", "intent": "CAPTURE", "status": status, "create_time": "2026-11-27T11:00:00Z",
            "purchase_units": [{"reference_id": "INV-0042", "custom_id": "42", "invoice_id": "inv42-paypal-1",
                                "amount": {"currency_code": currency, "value": value}}],
            "links": [{"href": API, "rel": "self", "method": "GET"}]}
    if rel:
        body["links"].append({"href": f"https://www.sandbox.paypal.com/checkoutnow?token={body['id']}", "rel": rel,
                              "method": "GET"})
    if captures is not None:
        body["purchase_units"][0]["payments"] = {"captures": [
            {"id": f"3C{n}", "status": s, "amount": {"currency_code": currency, "value": v}, "final_capture": True}
            for n, (s, v) in enumerate(captures)]}
    validate("order", body)
    return body


@pytest.mark.parametrize("status, rel", [("CREATED", "approve"), ("PAYER_ACTION_REQUIRED", "payer-action")])
def test_open_orders_are_live_links(status, rel):
    link = translate.order_to_link(order(status, rel), now=NOW, request=link_request())
    assert link.status == base.LINK_CREATED and link.is_live
    assert link.url == "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"
    assert link.link_id == "5O190127TN364715T" and link.reference == "inv42-paypal-1"
    assert link.amount == Money(246900, "USD") and link.amount_paid == Money(0, "USD")
    assert link.expires_at == datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc)  # create_time + 3 h


def test_expiry_is_the_earlier_of_paypal_and_the_request():
    soon = NOW + timedelta(minutes=30)
    link = translate.order_to_link(order("PAYER_ACTION_REQUIRED", "payer-action"), now=NOW,
                                   request=link_request(expires_at=soon))
    assert link.expires_at == soon


def test_approved_is_still_live_and_awaits_capture():
    link = translate.order_to_link(order("APPROVED"), now=NOW)
    assert link.status == base.LINK_CREATED and link.url is None


def test_completed_is_paid_with_the_sum_of_completed_captures():
    link = translate.order_to_link(order("COMPLETED", captures=[("COMPLETED", "2469.00")]), now=NOW)
    assert link.status == base.LINK_PAID and link.amount_paid == Money(246900, "USD")
    assert link.url is None and link.expires_at is None


@pytest.mark.parametrize("captures, status, paid", [
    ([("PENDING", "2469.00")], base.LINK_CREATED, 0),            # eCheck / review: money not in yet
    ([("DECLINED", "2469.00")], base.LINK_CANCELLED, 0),         # this order can never be paid now
    ([("COMPLETED", "1000.00"), ("PENDING", "1469.00")], base.LINK_PARTIALLY_PAID, 100000),
    ([("REFUNDED", "2469.00")], base.LINK_PAID, 246900),          # it was paid; refunds are tracked elsewhere
])
def test_capture_statuses(captures, status, paid):
    link = translate.order_to_link(order("COMPLETED", captures=captures), now=NOW)
    assert link.status == status and link.amount_paid == Money(paid, "USD")


def test_zero_decimal_amounts_parse_back_strictly():
    link = translate.order_to_link(order("COMPLETED", captures=[("COMPLETED", "1234")], value="1234", currency="HUF"),
                                   now=NOW)
    assert link.amount == link.amount_paid == Money(123400, "HUF")
    with pytest.raises(GatewayError) as info:  # JPY with decimals is not an amount PayPal could have sent
        translate.order_to_link(order("CREATED", value="12.5", currency="JPY"), now=NOW)
    assert info.value.kind == base.TIMEOUT and info.value.code == translate.UNREADABLE


def test_voided_is_expired():
    link = translate.order_to_link(order("VOIDED"), now=NOW)
    assert link.status == base.LINK_EXPIRED and not link.is_live and link.url is None


@pytest.mark.parametrize("body", [{}, {"id": "X", "status": "CREATED"}, {"id": "X", "status": "WEIRD",
                                  "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.00"}}]}, []])
def test_unreadable_orders_are_gateway_errors(body):
    with pytest.raises(GatewayError) as info:
        translate.order_to_link(body, now=NOW)
    assert info.value.code == translate.UNREADABLE


def test_json_body_and_token():
    assert translate.json_body('{"a": 1}') == {"a": 1}
    with pytest.raises(GatewayError) as info:
        translate.json_body("<html>")
    assert info.value.kind == base.TIMEOUT
    assert translate.token_from({"access_token": "A21AA", "expires_in": 32400}) == ("A21AA", 32400)
    for bad in ({}, {"access_token": "", "expires_in": 1}, {"access_token": "A", "expires_in": "9"}, None):
        with pytest.raises(GatewayError):
            translate.token_from(bad)


# ---- errors -------------------------------------------------------------------------------------------
def rest_error(status: int, name: str, issue: str | None = None) -> str:
    """A REST error body; where the spec has a schema for the status, it is validated against it."""
    schema = SPEC["components"]["schemas"].get(f"error_{status}", {})
    message = (schema.get("properties", {}).get("message", {}).get("enum") or ["message"])[0]
    body = {"name": name, "message": message, "debug_id": "f1a2b3c4d5e6f",
            "links": [{"href": "https://developer.paypal.com/docs/api/orders/v2/", "rel": "information_link"}]}
    if issue:
        body["details"] = [{"issue": issue, "description": f"{issue} description"}]
    if schema:
        validate(f"error_{status}", body)
    return json.dumps(body)


@pytest.mark.parametrize("status, name, issue, kind, code", [
    (422, "UNPROCESSABLE_ENTITY", "DUPLICATE_INVOICE_ID", base.REJECTED, "DUPLICATE_INVOICE_ID"),
    (422, "UNPROCESSABLE_ENTITY", "CURRENCY_NOT_SUPPORTED", base.REJECTED, "CURRENCY_NOT_SUPPORTED"),
    (422, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION", base.REJECTED, "DECIMAL_PRECISION"),
    (400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", base.REJECTED, "MISSING_REQUIRED_PARAMETER"),
    (401, "AUTHENTICATION_FAILURE", None, base.AUTH, "AUTHENTICATION_FAILURE"),
    (403, "NOT_AUTHORIZED", "PERMISSION_DENIED", base.AUTH, "PERMISSION_DENIED"),
    (404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", base.NOT_FOUND, "INVALID_RESOURCE_ID"),
    (409, "RESOURCE_CONFLICT", "PREVIOUS_REQUEST_IN_PROGRESS", base.CONFLICT, "PREVIOUS_REQUEST_IN_PROGRESS"),
    (415, "UNSUPPORTED_MEDIA_TYPE", None, base.REJECTED, "UNSUPPORTED_MEDIA_TYPE"),
    (429, "RATE_LIMIT_REACHED", None, base.RATE_LIMITED, "RATE_LIMIT_REACHED"),
    (500, "INTERNAL_SERVER_ERROR", None, base.SERVER, "INTERNAL_SERVER_ERROR"),
    (503, "SERVICE_UNAVAILABLE", None, base.SERVER, "SERVICE_UNAVAILABLE"),
])
def test_rest_errors(status, name, issue, kind, code):
    error = translate.error_from_response(status, {"Retry-After": "2"}, rest_error(status, name, issue), NOW)
    assert (error.kind, error.code, error.status) == (kind, code, status)
    assert "debug_id f1a2b3c4d5e6f" in error.message
    assert error.retry_after == (2.0 if status == 429 else None)


def test_oauth_error_and_non_json_bodies():
    oauth = translate.error_from_response(
        401, {}, json.dumps({"error": "invalid_client", "error_description": "Client Authentication failed"}), NOW)
    assert (oauth.kind, oauth.code, oauth.message) == (base.AUTH, "invalid_client", "Client Authentication failed")
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert translate.error_from_response(502, {}, html, NOW).kind == base.SERVER
    assert translate.error_from_response(502, {}, html, NOW).code == "http_502"
    assert translate.error_from_response(400, {}, html, NOW).kind == base.REJECTED
    assert translate.error_from_response(429, {}, "", NOW).kind == base.RATE_LIMITED
    assert translate.error_from_response(404, {}, "[]", NOW).kind == base.NOT_FOUND


def test_retry_after_forms():
    assert translate.retry_after_seconds("7", NOW) == 7.0
    assert translate.retry_after_seconds("Fri, 27 Nov 2026 12:00:30 GMT", NOW) == 30.0
    assert translate.retry_after_seconds("soon", NOW) is None and translate.retry_after_seconds(None, NOW) is None


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(reason)


@pytest.mark.parametrize("exc, kind", [
    (refused(), base.UNREACHABLE),
    (requests.ConnectTimeout("connect timed out"), base.UNREACHABLE),
    (requests.ReadTimeout("read timed out"), base.TIMEOUT),
    (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), base.TIMEOUT),
    (requests.exceptions.ChunkedEncodingError("cut"), base.TIMEOUT),
    (requests.exceptions.InvalidURL("bad"), base.UNREACHABLE),
])
def test_requests_failures(exc, kind):
    error = translate.error_from_exception(exc)
    assert isinstance(error, GatewayError) and error.kind == kind and error.gateway == "paypal"


def test_token_failures_mean_the_call_never_went_out():
    lost = translate.before_the_call(translate.error_from_exception(requests.ReadTimeout("read timed out")))
    assert lost.kind == base.UNREACHABLE and lost.code == "token_read_timeout" and lost.surely_not_applied
    auth = GatewayError("paypal", base.AUTH, "invalid_client", "no")
    assert translate.before_the_call(auth) is auth


# ---- refunds (Payments v2) -------------------------------------------------------------------------------------
PAYMENTS_SPEC = json.loads((REFERENCE_DIR / "paypal" / "payments_payment_v2.json").read_text())


def validate_payments(component: str, instance) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": PAYMENTS_SPEC["components"]}
    jsonschema.Draft4Validator(schema).validate(instance)


def test_refund_body_names_the_amount_and_our_reference():
    request = base.RefundRequest(payment_id="2GG279541U471931P", amount=Money(1500, "JPY"),
                                 reference="hp_rf_0123456789abcdef01234567", reason="  returned  " + "x" * 300)
    body = translate.refund_body(request, PayPalGateway)
    validate_payments("refund_request", body)
    assert body["amount"] == {"currency_code": "JPY", "value": "1500"}  # JPY: whole yen at PayPal and in ISO
    assert body["invoice_id"] == request.reference and len(body["note_to_payer"]) == 255
    assert "note_to_payer" not in translate.refund_body(base.RefundRequest("C", Money(100, "USD"), "r"), PayPalGateway)


@pytest.mark.parametrize("issue, status, code", [
    ("REFUND_AMOUNT_EXCEEDED", 422, "refund_exceeds_payment"),
    ("CAPTURE_FULLY_REFUNDED", 422, "refund_exceeds_payment"),
    ("TRANSACTION_DISPUTED", 422, "payment_not_refundable"), ("PENDING_CAPTURE", 422, "payment_not_refundable"),
    ("REFUND_TIME_LIMIT_EXCEEDED", 422, "payment_not_refundable"),
    ("INVALID_RESOURCE_ID", 404, "payment_not_refundable"),
    ("DUPLICATE_INVOICE_ID", 422, "DUPLICATE_INVOICE_ID"),
    ("REFUND_FAILED_INSUFFICIENT_FUNDS", 422, "REFUND_FAILED_INSUFFICIENT_FUNDS")])
def test_refund_refusals(issue, status, code):
    text = json.dumps({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed.",
                       "debug_id": "b1d1f06c7246c", "details": [{"issue": issue, "description": "PayPal says so."}]})
    error = translate.refund_refusal(translate.error_from_response(status, {}, text, datetime.now(timezone.utc)))
    assert (error.kind, error.code, error.status) == (base.REJECTED, code, status)
    assert "PayPal says so." in error.message and error.surely_not_applied


def test_an_unreadable_refund_answer_may_have_taken_effect():
    with pytest.raises(GatewayError) as info:
        translate.refund_to_gateway({"id": "1JU08902781691411", "status": "COMPLETED"}, "C")
    assert info.value.kind == base.TIMEOUT and not info.value.surely_not_applied
