"""Razorpay translation, pure: request bodies, entities and errors, against the SDK's own mock bodies."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
from razorpay import errors as sdk_errors
from urllib3.exceptions import NewConnectionError, ProtocolError

from portal.money import Money
from portal.payments.base import (AUTH, NOT_FOUND, RATE_LIMITED, REJECTED, SERVER, TIMEOUT, UNREACHABLE,
                                  GatewayError, LinkRequest)
from portal.payments.razorpay import RazorpayGateway
from portal.payments.razorpay import translate
from tests.conftest import REFERENCE_DIR

NOW = 1_800_000_000


def reference(name: str) -> dict:
    return json.loads((REFERENCE_DIR / "razorpay" / name).read_text())


def link_request(amount: str = "2469.00", currency: str = "INR", **extra) -> LinkRequest:
    fields = dict(invoice_id=7, invoice_number="INV-0007", amount=Money.parse(amount, currency),
                  reference="inv7-razorpay-1", description="Invoice INV-0007", customer_name="Asha Traders",
                  customer_email="asha@example.com", customer_phone="+919999999999",
                  return_url="https://portal.example/pay/return", cancel_url="https://portal.example/pay/cancel",
                  expires_at=datetime.fromtimestamp(NOW, timezone.utc) + timedelta(days=7))
    return LinkRequest(**{**fields, **extra})


def params(request: LinkRequest) -> dict:
    return translate.link_params(request, RazorpayGateway, NOW)


@pytest.mark.parametrize("amount, currency, units", [("2469.00", "INR", 246900), ("1.250", "KWD", 1250),
                                                      ("1500", "JPY", 1500), ("19.99", "USD", 1999)])
def test_amount_in_razorpay_subunits(amount, currency, units):
    body = params(link_request(amount, currency))
    assert body["amount"] == units and type(body["amount"]) is int and body["currency"] == currency


def test_params_use_the_documented_names_and_types():
    sample = reference("init_payment_link.json")
    body = params(link_request(accept_partial=True, min_partial=Money.parse("500.00", "INR"),
                               metadata={"invoice_id": "7"}))
    assert set(body) <= set(sample)
    for key, value in body.items():
        assert type(value) is type(sample[key]), key
    assert set(body["customer"]) == set(sample["customer"]) and set(body["notify"]) == set(sample["notify"])
    assert body["reference_id"] == "inv7-razorpay-1" and body["callback_method"] == "get"
    assert body["callback_url"] == "https://portal.example/pay/return"
    assert body["notify"] == {"sms": False, "email": False}
    assert body["accept_partial"] is True and body["first_min_partial_amount"] == 50000
    assert body["notes"] == {"invoice_id": "7"}
    assert body["expire_by"] == NOW + 7 * 86400


def test_no_partial_fields_unless_asked():
    body = params(link_request())
    assert "accept_partial" not in body and "first_min_partial_amount" not in body and "notes" not in body


def test_expiry_is_moved_into_razorpays_window():
    soon = params(link_request(expires_at=datetime.fromtimestamp(NOW + 60, timezone.utc)))
    late = params(link_request(expires_at=datetime.fromtimestamp(NOW, timezone.utc) + timedelta(days=400)))
    assert soon["expire_by"] >= NOW + 15 * 60
    assert late["expire_by"] <= NOW + 183 * 86400


def test_notes_are_capped_at_fifteen_pairs_of_256_characters():
    body = params(link_request(metadata={f"k{i}": "x" * 300 for i in range(20)}))
    assert len(body["notes"]) == 15 and all(len(v) == 256 for v in body["notes"].values())


def test_three_decimal_amounts_not_ending_in_zero_are_refused_before_sending():
    with pytest.raises(GatewayError) as info:
        params(link_request("1.255", "KWD"))
    assert info.value.kind == REJECTED and info.value.code == "amount_precision"


def test_paid_link_entity():
    link = translate.link_from(reference("fake_payment_link.json"), RazorpayGateway)
    assert (link.gateway, link.link_id, link.status) == ("razorpay", "plink_Fo48rl281ENAg9", "paid")
    assert link.url == "https://rzp.io/i/XQiMe4w"
    assert link.amount == Money(100, "INR") and link.amount_paid == Money(100, "INR")
    assert link.reference is None and link.expires_at is None and not link.is_live


def test_cancelled_link_entity():
    link = translate.link_from(reference("cancel_payment_link.json"), RazorpayGateway)
    assert link.status == "cancelled" and link.amount_paid == Money(0, "INR")


def test_edited_link_carries_reference_and_expiry():
    link = translate.link_from(reference("edit_payment_link.json"), RazorpayGateway)
    assert link.reference == "TS35" and link.expires_at == datetime.fromtimestamp(1653347540, timezone.utc)


def test_collection():
    links = translate.links_from(reference("payment_link_collection.json"), RazorpayGateway)
    assert [(l.link_id, l.status, l.reference) for l in links] == [
        ("plink_Fo4T7Ht271epg3", "created", "#41956"), ("plink_Fo4EWsg3KmfWGW", "cancelled", None)]
    assert links[0].is_live
    assert translate.links_from({"payment_links": []}, RazorpayGateway) == []


@pytest.mark.parametrize("status, kind", [("created", "created"), ("partially_paid", "partially_paid"),
                                          ("paid", "paid"), ("expired", "expired"), ("cancelled", "cancelled")])
def test_status_mapping(status, kind):
    entity = {**reference("fake_payment_link.json"), "status": status}
    assert translate.link_from(entity, RazorpayGateway).status == kind


def test_unreadable_entity_is_an_ambiguous_failure():
    with pytest.raises(GatewayError) as info:
        translate.link_from({"id": "plink_x", "status": "weird", "amount": 100}, RazorpayGateway)
    assert info.value.kind == TIMEOUT and info.value.code == "unexpected_response"


def test_kwd_and_jpy_entities_come_back_in_iso_units():
    kwd = translate.link_from({**reference("fake_payment_link.json"), "currency": "KWD", "amount": 1250}, RazorpayGateway)
    jpy = translate.link_from({**reference("fake_payment_link.json"), "currency": "JPY", "amount": 1500}, RazorpayGateway)
    assert kwd.amount == Money.parse("1.250", "KWD") and jpy.amount == Money.parse("1500", "JPY")


# ---- errors -----------------------------------------------------------------------------------------
def refused() -> requests.ConnectionError:
    return requests.ConnectionError(NewConnectionError(None, "Connection refused"))


@pytest.mark.parametrize("exc, kind", [
    (refused(), UNREACHABLE),
    (requests.exceptions.ConnectTimeout("connect timed out"), UNREACHABLE),
    (requests.exceptions.ReadTimeout("read timed out"), TIMEOUT),
    (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), TIMEOUT),
    (requests.exceptions.ChunkedEncodingError("broken"), TIMEOUT),
    (requests.exceptions.JSONDecodeError("Expecting value", "<html>", 0), SERVER),
    (requests.exceptions.InvalidURL("no host"), UNREACHABLE),
    (sdk_errors.ServerError("The server encountered an error"), SERVER),
    (sdk_errors.GatewayError("Payment processing failed"), SERVER),
    (sdk_errors.BadRequestError("The amount is invalid"), REJECTED),
])
def test_exception_without_an_answer(exc, kind):
    error = translate.error_from(exc)
    assert isinstance(error, GatewayError) and error.kind == kind and error.status is None


def body(status_code: str = "BAD_REQUEST_ERROR", description: str = "x", field=None) -> dict:
    return {"error": {"code": status_code, "description": description, "field": field}}


@pytest.mark.parametrize("status, payload, kind, code", [
    (400, reference("bad_request_error.json"), REJECTED, "BAD_REQUEST_ERROR"),
    (400, body(description="Payment Link with reference_id r1 already exists", field="reference_id"),
     REJECTED, "duplicate_reference"),
    (400, body(description="The id provided does not exist", field="id"), NOT_FOUND, "BAD_REQUEST_ERROR"),
    (401, body(description="The api key provided is invalid"), AUTH, "BAD_REQUEST_ERROR"),
    (404, body(description="The requested URL was not found on the server."), NOT_FOUND, "BAD_REQUEST_ERROR"),
    (500, body("SERVER_ERROR"), SERVER, "SERVER_ERROR"),
    (503, body("SERVICE_UNAVAILABLE"), SERVER, "SERVICE_UNAVAILABLE"),
    (502, body("GATEWAY_ERROR"), SERVER, "GATEWAY_ERROR"),
    (502, None, SERVER, "http_502"),  # a proxy's HTML page
    (200, None, TIMEOUT, "unexpected_response"),
])
def test_http_answer(status, payload, kind, code):
    error = translate.error_from(sdk_errors.BadRequestError("x"), status, {}, payload)
    assert (error.kind, error.code, error.status) == (kind, code, status)


def test_rejection_keeps_razorpays_description_and_field():
    error = translate.error_from(None, 400, {}, reference("bad_request_error.json"))
    assert "The amount is invalid" in error.message and "amount" in error.message


def test_429_is_rate_limited_even_though_the_sdk_calls_it_a_bad_request():
    error = translate.error_from(sdk_errors.BadRequestError("Too many requests"), 429, {"Retry-After": "2"},
                                 body(description="Too many requests. Please try after some time."))
    assert error.kind == RATE_LIMITED and error.retry_after == 2.0 and error.transient


@pytest.mark.parametrize("value, seconds", [("1", 1.0), ("0.5", 0.5), (None, None), ("soon", None), ("-3", None),
                                            ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_retry_after(value, seconds):
    assert translate.retry_after(value) == seconds


# ---- what Razorpay can take -------------------------------------------------------------------------
@pytest.mark.parametrize("amount, currency, refused", [
    ("1.255", "KWD", True), ("1.250", "KWD", False), ("0.99", "INR", True), ("1.00", "INR", False),
    ("10.00", "USD", False), ("1500", "JPY", False), ("10.00", "ARS", True),
])
def test_cannot_take(amount, currency, refused):
    reason = RazorpayGateway.cannot_take(Money.parse(amount, currency))
    assert (reason is not None) is refused, reason


def test_facts():
    assert RazorpayGateway.name == "razorpay" and RazorpayGateway.supports_partial
    assert {"INR", "USD", "EUR", "JPY", "KWD"} <= RazorpayGateway.currencies
    assert RazorpayGateway.amount_multiples["KWD"] == 10 and RazorpayGateway.min_amounts["INR"] == 100


# ---- configuration ----------------------------------------------------------------------------------
CONFIG = {"RAZORPAY_KEY_ID": "rzp_test_abc123", "RAZORPAY_KEY_SECRET": "s3cret", "RAZORPAY_WEBHOOK_SECRET": "wh",
          "RAZORPAY_API_BASE": "http://127.0.0.1:12112/", "GATEWAY_TIMEOUT_SECONDS": "2.5"}


def test_settings_from_config():
    settings = RazorpayGateway.settings_from(CONFIG)
    assert settings.api_base == "http://127.0.0.1:12112" and settings.timeout == 2.5 and not settings.live
    assert settings.secrets() == ("rzp_test_abc123", "s3cret", "wh")
    assert RazorpayGateway.settings_from({**CONFIG, "RAZORPAY_KEY_ID": "rzp_live_abc"}).live
    assert RazorpayGateway.settings_from({**CONFIG, "RAZORPAY_KEY_SECRET": None}) is None
    assert not RazorpayGateway.is_configured({})


def test_configuration_problems():
    assert RazorpayGateway.configuration_problems(CONFIG) == []
    assert RazorpayGateway.configuration_problems({}) == []
    assert any("KEY_ID is not" in p for p in
               RazorpayGateway.configuration_problems({"RAZORPAY_KEY_SECRET": "s"}))
    assert any("rzp_test_" in p for p in
               RazorpayGateway.configuration_problems({**CONFIG, "RAZORPAY_KEY_ID": "sk_test_abc"}))
    assert any("/v1" in p for p in
               RazorpayGateway.configuration_problems({**CONFIG, "RAZORPAY_API_BASE": "https://api.razorpay.com/v1"}))
