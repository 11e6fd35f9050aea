"""Pure tests of the Stripe translation: params, facts, session -> link, exception -> kind."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests
import stripe
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, LinkRequest
from portal.payments.stripe import StripeGateway
from portal.payments.stripe import translate
from tests.conftest import REFERENCE_DIR

NOW = 1_800_000_000


def link_request(amount: Money, **overrides) -> LinkRequest:
    fields = dict(invoice_id=7, invoice_number="INV-0007", amount=amount, reference="inv7-stripe-1",
                  description="Invoice INV-0007", customer_name="Asha", customer_email="asha@example.com",
                  customer_phone="+911234567890", return_url="https://portal.example/pay/7/done",
                  cancel_url="https://portal.example/pay/7", metadata={"invoice_id": "7"},
                  expires_at=datetime.fromtimestamp(NOW + 3600 * 6, timezone.utc))
    fields.update(overrides)
    return LinkRequest(**fields)


def params_for(amount: Money, **overrides) -> dict:
    return translate.session_params(link_request(amount, **overrides), StripeGateway, now=NOW)


# ---- params ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("amount, unit_amount, currency", [
    (Money.parse("2469.00", "INR"), 246900, "inr"),
    (Money.parse("1500", "JPY"), 1500, "jpy"),
    (Money.parse("1.250", "KWD"), 1250, "kwd"),
    (Money.parse("500", "ISK"), 50000, "isk"),  # ISO 0 decimals, Stripe 2 on the wire
])
def test_amounts_in_stripe_units(amount, unit_amount, currency):
    price = params_for(amount)["line_items"][0]["price_data"]
    assert (price["unit_amount"], price["currency"]) == (unit_amount, currency)
    assert StripeGateway.cannot_take(amount) is None
    assert StripeGateway.iso_amount(unit_amount, amount.currency) == amount


def test_session_params_shape():
    params = params_for(Money(246900, "INR"))
    assert params == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "inr", "unit_amount": 246900,
                                       "product_data": {"name": "Invoice INV-0007"}}, "quantity": 1}],
        "success_url": "https://portal.example/pay/7/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://portal.example/pay/7",
        "client_reference_id": "inv7-stripe-1",
        "metadata": {"invoice_id": "7", "reference": "inv7-stripe-1"},
        "customer_email": "asha@example.com",
        "expires_at": NOW + 3600 * 6,
    }
    assert translate.request_options(link_request(Money(246900, "INR"))) == {"idempotency_key": "inv7-stripe-1"}


def test_params_are_pure_and_stable_for_retries():
    request = link_request(Money(5000, "USD"))
    assert translate.session_params(request, StripeGateway, now=NOW) == \
        translate.session_params(request, StripeGateway, now=NOW + 40)


@pytest.mark.parametrize("url, expected", [
    ("https://p.example/done", "https://p.example/done?session_id={CHECKOUT_SESSION_ID}"),
    ("https://p.example/done?x=1", "https://p.example/done?x=1&session_id={CHECKOUT_SESSION_ID}"),
    ("https://p.example/done?", "https://p.example/done?session_id={CHECKOUT_SESSION_ID}"),
    ("https://p.example/done?x=1#top", "https://p.example/done?x=1&session_id={CHECKOUT_SESSION_ID}#top"),
])
def test_success_url_carries_the_session_id(url, expected):
    assert translate.success_url(url) == expected


def test_expires_at_kept_inside_stripes_window():
    at = lambda seconds: datetime.fromtimestamp(NOW + seconds, timezone.utc)  # noqa: E731
    assert translate.expires_at_param(at(6 * 3600), NOW) == NOW + 6 * 3600
    assert translate.expires_at_param(at(30 * 3600), NOW) is None  # Stripe's default: 24 h
    soon = translate.expires_at_param(at(60), NOW)
    assert NOW + 35 * 60 <= soon <= NOW + 45 * 60 and soon % translate.EXPIRY_GRID_S == 0
    assert translate.expires_at_param(at(60), NOW + 5) == soon  # a quick retry sends the same value
    assert "expires_at" not in params_for(Money(5000, "USD"), expires_at=at(3 * 24 * 3600))


# ---- facts: cannot_take ----------------------------------------------------------------------------
@pytest.mark.parametrize("amount, words", [
    (Money.parse("1.255", "KWD"), "steps of 10"),
    (Money.parse("0.49", "USD"), "at least"),
    (Money.parse("0.29", "GBP"), "at least"),
    (Money.parse("100000000.00", "USD"), "this large"),
    (Money.parse("1000000", "ISK"), "this large"),  # 100,000,000 on the wire: 9 digits
    (Money.parse("12.50", "MGA"), "whole units"),  # zero-decimal at Stripe
    (Money(100, "CUP"), "does not take"),
])
def test_cannot_take(amount, words):
    assert words in StripeGateway.cannot_take(amount)


@pytest.mark.parametrize("amount", [Money.parse("0.50", "USD"), Money.parse("999999.99", "USD"),
                                    Money.parse("1.250", "KWD"), Money.parse("50", "JPY"),
                                    Money.parse("0.30", "GBP")])
def test_can_take(amount):
    assert StripeGateway.cannot_take(amount) is None


# ---- session -> link -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session_fixture() -> dict:
    fixtures = json.loads((REFERENCE_DIR / "stripe" / "fixtures3.json").read_text())
    return fixtures["resources"]["checkout.session"] | {"currency": "inr", "amount_total": 246900,
                                                         "amount_subtotal": 246900, "currency_conversion": None,
                                                         "client_reference_id": "inv7-stripe-1"}


@pytest.mark.parametrize("changes, status, paid", [
    ({"status": "open", "payment_status": "unpaid"}, base.LINK_CREATED, 0),
    ({"status": "complete", "payment_status": "paid", "url": None}, base.LINK_PAID, 246900),
    ({"status": "complete", "payment_status": "unpaid", "url": None}, base.LINK_CREATED, 0),
    ({"status": "complete", "payment_status": "no_payment_required", "url": None}, base.LINK_PAID, 246900),
    ({"status": "expired", "payment_status": "unpaid", "url": None}, base.LINK_EXPIRED, 0),
])
def test_session_to_link(session_fixture, changes, status, paid):
    link = translate.to_link(session_fixture | changes, StripeGateway)
    assert link.status == status
    assert link.amount == Money(246900, "INR") and link.amount_paid == Money(paid, "INR")
    assert link.link_id == session_fixture["id"] and link.reference == "inv7-stripe-1"
    assert link.expires_at == datetime.fromtimestamp(session_fixture["expires_at"], timezone.utc)
    assert link.url == (session_fixture | changes)["url"]


def test_isk_session_amount_back_in_iso_units(session_fixture):
    link = translate.to_link(session_fixture | {"currency": "isk", "amount_total": 50000}, StripeGateway)
    assert link.amount == Money(500, "ISK")


def test_legacy_adaptive_pricing_uses_the_source_currency(session_fixture):
    # The reference fixture's own currency_conversion block: our amount is the source one.
    fixtures = json.loads((REFERENCE_DIR / "stripe" / "fixtures3.json").read_text())
    conversion = fixtures["resources"]["checkout.session"]["currency_conversion"] | {"amount_total": 5000}
    link = translate.to_link(session_fixture | {"currency": "eur", "amount_total": 4600,
                                                "currency_conversion": conversion}, StripeGateway)
    assert link.amount == Money(5000, "USD")


def test_reference_falls_back_to_metadata(session_fixture):
    link = translate.to_link(session_fixture | {"client_reference_id": None, "metadata": {"reference": "r-9"}},
                             StripeGateway)
    assert link.reference == "r-9"


# ---- exceptions -> kinds ---------------------------------------------------------------------------
def body(kind: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"type": kind, "message": "nope", **({"code": code} if code else {}),
                      **({"param": param} if param else {})}}


def chained(outer: Exception, inner: Exception) -> Exception:
    try:
        raise outer from inner
    except Exception as exc:  # noqa: BLE001
        return exc


refused = requests.exceptions.ConnectionError(MaxRetryError(None, "/v1/checkout/sessions",
                                                            NewConnectionError(None, "Connection refused")))
read_timeout = requests.exceptions.ReadTimeout(ReadTimeoutError(None, "/", "Read timed out."))
dropped = requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.mark.parametrize("exc, kind, code", [
    (chained(stripe.APIConnectionError("x"), refused), base.UNREACHABLE, "connection_error"),
    (chained(stripe.APIConnectionError("x"), requests.exceptions.ConnectTimeout("t")), base.UNREACHABLE,
     "connection_error"),
    (chained(stripe.APIConnectionError("x"), read_timeout), base.TIMEOUT, "connection_error"),
    (chained(stripe.APIConnectionError("x"), dropped), base.TIMEOUT, "connection_error"),
    (stripe.APIConnectionError("no cause"), base.TIMEOUT, "connection_error"),
    (stripe.APIError("boom", http_status=503, json_body=body("api_error")), base.SERVER, "api_error"),
    (stripe.APIError("bad gateway", http_body="<html>", http_status=502), base.SERVER, "api_error"),
    (stripe.APIError("in flight", http_status=409, json_body=body("idempotency_error")), base.CONFLICT,
     "conflict"),
    (stripe.APIError("garbled", http_status=200), base.TIMEOUT, "invalid_response"),
    (stripe.RateLimitError("slow down", http_status=429, headers={"Retry-After": "2"}), base.RATE_LIMITED,
     "rate_limit"),
    (stripe.RateLimitError("locked", http_status=429, json_body=body("invalid_request_error", "lock_timeout")),
     base.CONFLICT, "lock_timeout"),
    (stripe.IdempotencyError("other params", http_status=400), base.REJECTED, "idempotency_error"),
    (stripe.InvalidRequestError("bad", "line_items[0][price_data][unit_amount]", "amount_too_small",
                                http_status=400), base.REJECTED, "amount_too_small"),
    (stripe.InvalidRequestError("missing", "session", "resource_missing", http_status=404), base.NOT_FOUND,
     "resource_missing"),
    (stripe.AuthenticationError("bad key", http_status=401), base.AUTH, "authentication_error"),
    (stripe.PermissionError("restricted", http_status=403), base.AUTH, "permission_error"),
    (stripe.CardError("declined", None, "card_declined", http_status=402), base.REJECTED, "card_declined"),
])
def test_exception_kinds(exc, kind, code):
    error = translate.gateway_error(exc)
    assert isinstance(error, GatewayError) and error.gateway == "stripe"
    assert (error.kind, error.code) == (kind, code)


def test_rate_limit_retry_after_and_param_kept():
    error = translate.gateway_error(stripe.RateLimitError("slow", http_status=429, headers={"retry-after": "1.5"}))
    assert error.retry_after == 1.5 and error.status == 429
    assert translate.retry_after({"Retry-After": "soon"}) is None and translate.retry_after(None) is None
    error = translate.gateway_error(stripe.InvalidRequestError("bad", "expires_at", None, http_status=400))
    assert (error.kind, error.code) == (base.REJECTED, "invalid_request") and "expires_at" in error.message


def test_facts():
    assert (StripeGateway.name, StripeGateway.display_name, StripeGateway.customer_label) == \
        ("stripe", "Stripe", "Card (Stripe)")
    assert {"INR", "USD", "EUR", "JPY", "KWD", "ISK"} <= StripeGateway.currencies
    assert StripeGateway.gateway_exponent("ISK") == 2 and StripeGateway.gateway_exponent("JPY") == 0
    assert StripeGateway.max_gateway_amount == 99_999_999


def test_the_sdk_is_not_shadowed_by_our_package():
    assert translate.stripe is stripe and hasattr(stripe, "StripeClient") and stripe.VERSION == "16.1.0"
    assert "site-packages" in stripe.__file__


@pytest.mark.parametrize("config, live, problems", [
    ({"STRIPE_SECRET_KEY": "sk_test_abc"}, False, []),
    ({"STRIPE_SECRET_KEY": "sk_live_abc"}, True, []),
    ({"STRIPE_SECRET_KEY": "rk_live_abc"}, True, []),
    ({"STRIPE_SECRET_KEY": "pk_test_abc"}, False, ["STRIPE_SECRET_KEY"]),
    ({"STRIPE_SECRET_KEY": "sk_test_abc", "STRIPE_PUBLISHABLE_KEY": "sk_test_abc"}, False, ["STRIPE_PUBLISHABLE_KEY"]),
])
def test_settings_and_configuration_problems(config, live, problems):
    config = {"STRIPE_API_BASE": "http://127.0.0.1:1", "GATEWAY_TIMEOUT_SECONDS": "2.5", **config}
    settings = StripeGateway.settings_from(config)
    assert settings.live is live and settings.timeout == 2.5 and settings.key_id == config["STRIPE_SECRET_KEY"]
    found = StripeGateway.configuration_problems(config)
    assert [p.split()[0] for p in found] == problems


def test_not_configured_without_a_secret_key():
    assert StripeGateway.settings_from({"STRIPE_PUBLISHABLE_KEY": "pk_test_x"}) is None
    assert not StripeGateway.is_configured({})
