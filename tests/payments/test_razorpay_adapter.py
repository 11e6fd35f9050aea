"""The Razorpay adapter end to end: the real SDK over HTTP against the sandbox, faults included."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import requests

from portal.money import Money
from portal.payments.base import (AUTH, NOT_FOUND, RATE_LIMITED, REJECTED, SERVER, TIMEOUT, UNREACHABLE,
                                  GatewayError, LinkRequest)
from portal.payments.razorpay import RazorpayGateway

TIMEOUT_S = 2.0
_numbers = count(1)


@pytest.fixture
def gateway(gateway_config):
    settings = RazorpayGateway.settings_from(gateway_config)
    assert settings is not None and not settings.live
    return RazorpayGateway(settings)


def link_request(amount: str = "2469.00", currency: str = "INR", **extra) -> LinkRequest:
    n = next(_numbers)
    fields = dict(invoice_id=n, invoice_number=f"INV-{n:04d}", amount=Money.parse(amount, currency),
                  reference=f"inv{n}-razorpay-{time.time_ns() % 10**9}", description=f"Invoice INV-{n:04d}",
                  customer_name="Asha Traders", customer_email="asha@example.com", customer_phone="+919999999999",
                  return_url="https://portal.example/pay/return", cancel_url="https://portal.example/pay/cancel",
                  expires_at=datetime.now(timezone.utc) + timedelta(days=3), metadata={"invoice_id": str(n)})
    return LinkRequest(**{**fields, **extra})


def stored_links(control) -> list[dict]:
    return control.get("/_sandbox/state")["razorpay"]["payment_links"]


def fault(control, mode, **extra):
    control.post("/_sandbox/faults", {"gateway": "razorpay", "mode": mode, **extra})


def failure(call, *args) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        call(*args)
    return info.value


# ---- links ------------------------------------------------------------------------------------------
def test_create_gives_a_live_link_that_opens(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    assert link.status == "created" and link.is_live and link.link_id.startswith("plink_")
    assert link.amount == Money(246900, "INR") and link.amount_paid == Money(0, "INR")
    assert link.expires_at is not None and link.reference is not None
    assert requests.get(link.url, timeout=5).status_code == 200
    (stored,) = stored_links(control)
    assert stored["amount"] == 246900 and stored["notify"] == {"sms": False, "email": False}
    assert stored["callback_method"] == "get" and stored["notes"] == {"invoice_id": link.raw["notes"]["invoice_id"]}


def test_same_reference_twice_is_duplicate_and_find_returns_the_first(gateway, control):
    request = link_request()
    first = gateway.create_link(request, TIMEOUT_S)
    error = failure(gateway.create_link, request, TIMEOUT_S)
    assert (error.kind, error.code) == (REJECTED, "duplicate_reference")
    found = gateway.find_link(request, TIMEOUT_S)
    assert found is not None and found.link_id == first.link_id and found.url == first.url
    assert len(stored_links(control)) == 1
    assert gateway.find_link(link_request(), TIMEOUT_S) is None


def test_fetch_after_payment_is_paid(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id})
    paid = gateway.fetch_link(link.link_id, TIMEOUT_S)
    assert paid.status == "paid" and paid.amount_paid == Money(246900, "INR") and not paid.is_live


def test_partial_payment(gateway, control):
    request = link_request(accept_partial=True, min_partial=Money.parse("500.00", "INR"))
    link = gateway.create_link(request, TIMEOUT_S)
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id, "amount_minor": 60000})
    part = gateway.fetch_link(link.link_id, TIMEOUT_S)
    assert part.status == "partially_paid" and part.amount_paid == Money(60000, "INR") and part.is_live


def test_cancel_twice_is_fine(gateway):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    assert gateway.cancel_link(link.link_id, TIMEOUT_S).status == "cancelled"
    assert gateway.cancel_link(link.link_id, TIMEOUT_S).status == "cancelled"


def test_cancel_expired_is_fine(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    control.post("/_sandbox/expire", {"gateway": "razorpay", "id": link.link_id})
    assert gateway.cancel_link(link.link_id, TIMEOUT_S).status == "expired"


def test_cancel_paid_is_rejected(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT_S)
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link.link_id})
    error = failure(gateway.cancel_link, link.link_id, TIMEOUT_S)
    assert (error.kind, error.code) == (REJECTED, "already_paid")


def test_unknown_link_is_not_found(gateway):
    assert failure(gateway.fetch_link, "plink_doesnotexist", TIMEOUT_S).kind == NOT_FOUND


@pytest.mark.parametrize("amount, currency, units", [("1500", "JPY", 1500), ("1.250", "KWD", 1250)])
def test_other_currencies_reach_razorpay_in_its_units(gateway, control, amount, currency, units):
    link = gateway.create_link(link_request(amount, currency), TIMEOUT_S)
    (stored,) = stored_links(control)
    assert (stored["amount"], stored["currency"]) == (units, currency)
    assert link.amount == Money.parse(amount, currency)


def test_credentials(gateway, gateway_config):
    gateway.check_credentials(TIMEOUT_S)
    wrong = RazorpayGateway(RazorpayGateway.settings_from({**gateway_config, "RAZORPAY_KEY_SECRET": "nope"}))
    error = failure(wrong.check_credentials, TIMEOUT_S)
    assert error.kind == AUTH and error.status == 401


def test_one_pooled_connection_per_adapter(gateway, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    for _ in range(3):
        gateway.check_credentials(TIMEOUT_S)
    opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTP connection")]
    assert len(opened) == 1


# ---- faults -----------------------------------------------------------------------------------------
def test_down_is_unreachable(gateway, control):
    gateway.check_credentials(TIMEOUT_S)  # a pooled keep-alive connection exists now
    fault(control, "down")
    error = failure(gateway.create_link, link_request(), TIMEOUT_S)
    assert error.kind == UNREACHABLE and error.surely_not_applied


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_server(gateway, control, status):
    fault(control, "error", status=status)
    error = failure(gateway.create_link, link_request(), TIMEOUT_S)
    assert (error.kind, error.status) == (SERVER, status)


def test_html_error_page_is_server(gateway, control):
    fault(control, "error", status=502, body="html")
    error = failure(gateway.fetch_link, "plink_x", TIMEOUT_S)
    assert (error.kind, error.status) == (SERVER, 502)


def test_429_is_rate_limited_with_retry_after(gateway, control):
    fault(control, "error", status=429, error_rate=1.0, retry_after=2)
    error = failure(gateway.create_link, link_request(), TIMEOUT_S)
    assert (error.kind, error.status, error.retry_after) == (RATE_LIMITED, 429, 2.0)


def test_hang_is_timeout_within_a_second(gateway, control):
    fault(control, "hang")
    started = time.monotonic()
    error = failure(gateway.create_link, link_request(), 0.5)
    assert error.kind == TIMEOUT and not error.surely_not_applied
    assert time.monotonic() - started < 1.0
    fault(control, "ok")


def test_hang_after_effect_then_find_link(gateway, control):
    request = link_request()
    fault(control, "hang", effect=True)
    assert failure(gateway.create_link, request, 0.5).kind == TIMEOUT
    fault(control, "ok")
    assert gateway.find_link(request, TIMEOUT_S) is not None


def test_sdk_prints_nothing(gateway, control, capsys):
    fault(control, "down")
    failure(gateway.check_credentials, TIMEOUT_S)
    fault(control, "error", status=502, body="html")
    failure(gateway.check_credentials, TIMEOUT_S)
    assert capsys.readouterr().out == ""


# ---- logs -------------------------------------------------------------------------------------------
def test_debug_logs_carry_no_secrets(gateway, control, caplog):
    caplog.set_level(logging.DEBUG, logger="portal.payments")
    link = gateway.create_link(link_request(), TIMEOUT_S)
    gateway.fetch_link(link.link_id, TIMEOUT_S)
    fault(control, "error", status=429)
    failure(gateway.check_credentials, TIMEOUT_S)
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.payments.razorpay"]
    assert any("POST /v1/payment_links -> 200" in l for l in lines)
    assert any(f"GET /v1/payment_links/{link.link_id} -> 200" in l for l in lines)
    assert any("-> 429" in l and "rate_limited" in l for l in lines)
    text = caplog.text + "\n".join(lines)
    for secret in gateway.settings.secrets():
        assert secret not in text
    assert "Authorization" not in text and "Basic " not in text
