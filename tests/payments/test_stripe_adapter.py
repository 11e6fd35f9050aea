"""The Stripe adapter over HTTP, through the real stripe-python SDK, against the sandbox."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import requests

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, LinkRequest
from portal.payments.stripe import StripeGateway

TIMEOUT = 2.0
_numbers = count(1)


@pytest.fixture
def gateway(gateway_config):
    settings = StripeGateway.settings_from(gateway_config)
    assert settings is not None and not settings.live and settings.timeout == 1.0
    return StripeGateway(settings)


def link_request(amount: Money | None = None, reference: str | None = None) -> LinkRequest:
    number = next(_numbers)
    return LinkRequest(
        invoice_id=number, invoice_number=f"INV-{number:04d}", amount=amount or Money.parse("2469.00", "INR"),
        reference=reference or f"inv{number}-stripe-{time.time_ns()}", description="Design work",
        customer_name="Asha Traders", customer_email="asha@example.com", customer_phone="+919800000000",
        return_url=f"https://portal.example/pay/{number}/done", cancel_url=f"https://portal.example/pay/{number}",
        expires_at=datetime.now(timezone.utc) + timedelta(hours=6), metadata={"invoice_id": str(number)})


def sessions(control) -> list[dict]:
    return control.get("/_sandbox/state")["stripe"]["sessions"]


def fault(control, mode: str, **extra):
    control.post("/_sandbox/faults", {"gateway": "stripe", "mode": mode, **extra})


def failure(call, *args) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        call(*args)
    return info.value


# ---- happy paths -----------------------------------------------------------------------------------
def test_create_gives_a_live_link_that_opens(gateway, control):
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    assert link.status == base.LINK_CREATED and link.is_live and link.link_id.startswith("cs_test_")
    assert link.amount == Money(246900, "INR") and link.amount_paid == Money(0, "INR")
    assert link.reference == request.reference
    assert abs((link.expires_at - request.expires_at).total_seconds()) < 1
    assert requests.get(link.url, timeout=TIMEOUT).status_code == 200
    (session,) = sessions(control)
    assert session["success_url"] == f"{request.return_url}?session_id={{CHECKOUT_SESSION_ID}}"
    assert session["metadata"] == {"invoice_id": str(request.invoice_id), "reference": request.reference}


def test_same_reference_twice_is_one_session(gateway, control):
    request = link_request()
    first = gateway.create_link(request, TIMEOUT)
    again = gateway.create_link(request, TIMEOUT)
    found = gateway.find_link(request, TIMEOUT)
    assert first.link_id == again.link_id == found.link_id
    assert [s["id"] for s in sessions(control)] == [first.link_id]


def test_find_link_for_a_refused_create_is_none(gateway, control):
    request = link_request(Money.parse("0.10", "USD"))  # below Stripe's minimum: refused, nothing made
    assert failure(gateway.create_link, request, TIMEOUT).kind == base.REJECTED
    assert gateway.find_link(request, TIMEOUT) is None
    assert sessions(control) == []


def test_find_link_when_the_key_was_used_with_other_params(gateway, control):
    request = link_request()
    created = gateway.create_link(request, TIMEOUT)
    changed = replace(request, amount=Money.parse("2470.00", "INR"))  # same key, other params
    error = failure(gateway.create_link, changed, TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "idempotency_error")
    assert gateway.find_link(changed, TIMEOUT).link_id == created.link_id
    assert len(sessions(control)) == 1


def test_fetch_after_payment_is_paid(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    assert gateway.fetch_link(link.link_id, TIMEOUT).status == base.LINK_CREATED
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    paid = gateway.fetch_link(link.link_id, TIMEOUT)
    assert paid.status == base.LINK_PAID and paid.amount_paid == Money(246900, "INR") and paid.url is None


def test_cancel_expires_and_is_repeatable(gateway):
    link = gateway.create_link(link_request(), TIMEOUT)
    cancelled = gateway.cancel_link(link.link_id, TIMEOUT)
    assert cancelled.status == base.LINK_EXPIRED and not cancelled.is_live
    assert gateway.cancel_link(link.link_id, TIMEOUT).status == base.LINK_EXPIRED


def test_cancel_a_paid_link_is_rejected(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "stripe", "id": link.link_id})
    error = failure(gateway.cancel_link, link.link_id, TIMEOUT)
    assert (error.kind, error.code) == (base.REJECTED, "already_paid")


def test_unknown_session_is_not_found(gateway):
    assert failure(gateway.fetch_link, "cs_test_nope", TIMEOUT).kind == base.NOT_FOUND
    assert failure(gateway.cancel_link, "cs_test_nope", TIMEOUT).kind == base.NOT_FOUND


@pytest.mark.parametrize("amount, wire", [(Money.parse("1500", "JPY"), 1500), (Money.parse("1.250", "KWD"), 1250),
                                          (Money.parse("500", "ISK"), 50000)])
def test_amounts_reach_stripe_in_its_units(gateway, control, amount, wire):
    link = gateway.create_link(link_request(amount), TIMEOUT)
    (session,) = sessions(control)
    assert (session["amount_total"], session["currency"]) == (wire, amount.currency.lower())
    assert link.amount == amount


def test_credentials(gateway, gateway_config):
    gateway.check_credentials(TIMEOUT)
    wrong = StripeGateway(StripeGateway.settings_from({**gateway_config, "STRIPE_SECRET_KEY": "sk_test_wrong0000"}))
    assert failure(wrong.check_credentials, TIMEOUT).kind == base.AUTH
    assert failure(wrong.create_link, link_request(), TIMEOUT).kind == base.AUTH


def test_one_pooled_connection_per_adapter(gateway, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    for _ in range(3):
        gateway.check_credentials(TIMEOUT)
    opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTP connection")]
    assert len(opened) == 1


# ---- faults ----------------------------------------------------------------------------------------
def test_down_is_unreachable(gateway, control):
    gateway.check_credentials(TIMEOUT)  # a pooled keep-alive connection exists now
    fault(control, "down")
    error = failure(gateway.create_link, link_request(), TIMEOUT)
    assert error.kind == base.UNREACHABLE and error.surely_not_applied


def test_503_is_server(gateway, control):
    fault(control, "error", status=503)
    error = failure(gateway.create_link, link_request(), TIMEOUT)
    assert (error.kind, error.status) == (base.SERVER, 503)


def test_429_is_rate_limited_with_retry_after(gateway, control):
    fault(control, "error", status=429, retry_after=2)
    error = failure(gateway.create_link, link_request(), TIMEOUT)
    assert (error.kind, error.retry_after) == (base.RATE_LIMITED, 2.0)


def test_hang_is_timeout_within_the_call_timeout(gateway, control):
    fault(control, "hang")
    started = time.monotonic()
    error = failure(gateway.create_link, link_request(), 0.5)
    assert error.kind == base.TIMEOUT and not error.surely_not_applied
    assert time.monotonic() - started < 1.2
    fault(control, "ok")


def test_lost_answer_then_retry_gives_the_same_session(gateway, control):
    request = link_request()
    fault(control, "hang", effect=True)
    assert failure(gateway.create_link, request, 0.5).kind == base.TIMEOUT
    fault(control, "ok")
    found = gateway.find_link(request, TIMEOUT)
    again = gateway.create_link(request, TIMEOUT)
    assert found.link_id == again.link_id
    assert [s["id"] for s in sessions(control)] == [found.link_id]


# ---- logging ---------------------------------------------------------------------------------------
def test_debug_lines_never_carry_the_key(gateway, control, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and urllib3's included
    caplog.set_level(logging.DEBUG, logger="portal")  # create_app() sets "portal" to LOG_LEVEL (INFO)
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    gateway.fetch_link(link.link_id, TIMEOUT)
    fault(control, "error", status=503)
    failure(gateway.create_link, link_request(), TIMEOUT)
    ours = [r.getMessage() for r in caplog.records if r.name == "portal.payments.stripe"]
    assert any("POST /v1/checkout/sessions -> 200" in line and request.reference in line for line in ours)
    assert any(f"GET /v1/checkout/sessions/{link.link_id} -> 200" in line for line in ours)
    assert any("-> 503" in line for line in ours)
    key = gateway.settings.key_id
    assert key and not any(key in r.getMessage() for r in caplog.records)
    assert key not in caplog.text
