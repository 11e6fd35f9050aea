"""PayPalGateway against the sandbox: create / find / fetch / capture, the token cache, faults, logs."""
from __future__ import annotations

import base64
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import requests

from portal.money import Money
from portal.payments import base
from portal.payments.base import GatewayError, LinkRequest
from portal.payments.paypal import PayPalGateway

TIMEOUT = 2.0
_references = count(1)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def calls():
    """Every HTTP call the adapter makes, as (method, path, status)."""
    return []


@pytest.fixture
def clock():
    return Clock()


def make_gateway(settings, calls, clock) -> PayPalGateway:
    session = requests.Session()
    session.hooks["response"].append(
        lambda response, *a, **k: calls.append((response.request.method, requests.utils.urlparse(response.url).path,
                                                response.status_code)))
    return PayPalGateway(settings, session=session, clock=clock)


@pytest.fixture
def settings(gateway_config):
    return PayPalGateway.settings_from(gateway_config)


@pytest.fixture
def gateway(settings, calls, clock):
    return make_gateway(settings, calls, clock)


def token_calls(calls) -> int:
    return sum(1 for _, path, _ in calls if path == "/v1/oauth2/token")


def link_request(minor: int = 246900, currency: str = "USD", reference: str | None = None,
                 invoice_id: int = 42) -> LinkRequest:
    return LinkRequest(invoice_id=invoice_id, invoice_number=f"INV-{invoice_id:04d}", amount=Money(minor, currency),
                       reference=reference or f"inv{invoice_id}-pp-{next(_references)}-{time.time_ns() % 10**6}",
                       description=f"Invoice INV-{invoice_id:04d}", customer_name="Asha Traders",
                       customer_email="asha@example.com", customer_phone="+919800000000",
                       return_url="https://portal.example/pay/paypal/return",
                       cancel_url="https://portal.example/pay/paypal/cancel",
                       expires_at=datetime.now(timezone.utc) + timedelta(days=7))


def orders(control) -> list[dict]:
    return control.get("/_sandbox/state")["paypal"]["orders"]


def fault(control, mode: str, **extra) -> None:
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": mode, **extra})


# ---- create / find -------------------------------------------------------------------------------------
def test_create_gives_a_live_link_that_opens(gateway, control):
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    assert link.status == base.LINK_CREATED and link.is_live and link.gateway == "paypal"
    assert link.amount == Money(246900, "USD") and link.amount_paid == Money(0, "USD")
    assert link.reference == request.reference
    assert datetime.now(timezone.utc) < link.expires_at <= datetime.now(timezone.utc) + timedelta(hours=3)
    page = requests.get(link.url, timeout=TIMEOUT)
    assert page.status_code == 200 and "2469.00 USD" in page.text
    (order,) = orders(control)
    unit = order["purchase_units"][0]
    assert order["id"] == link.link_id and order["status"] == "PAYER_ACTION_REQUIRED"
    assert unit["invoice_id"] == request.reference and unit["custom_id"] == "42"


@pytest.mark.parametrize("minor, currency, value", [(1500, "JPY", "1500"), (123400, "HUF", "1234")])
def test_zero_decimal_currencies_go_as_whole_units(gateway, control, minor, currency, value):
    link = gateway.create_link(link_request(minor, currency), TIMEOUT)
    assert link.amount == Money(minor, currency)
    assert orders(control)[0]["purchase_units"][0]["amount"] == {"currency_code": currency, "value": value}


def test_same_reference_twice_is_one_order(gateway, control):
    request = link_request()
    first = gateway.create_link(request, TIMEOUT)
    again = gateway.create_link(request, TIMEOUT)
    found = gateway.find_link(request, TIMEOUT)
    assert first.link_id == again.link_id == found.link_id
    assert len(orders(control)) == 1


def test_new_reference_for_the_same_invoice_is_a_new_order(gateway, control):
    first = gateway.create_link(link_request(invoice_id=7), TIMEOUT)
    second = gateway.create_link(link_request(invoice_id=7), TIMEOUT)
    assert first.link_id != second.link_id and first.reference != second.reference
    assert {o["purchase_units"][0]["custom_id"] for o in orders(control)} == {"7"}


def test_find_after_a_lost_create_finds_it(gateway, control):
    request = link_request()
    gateway.check_credentials(TIMEOUT)
    fault(control, "hang", effect=True)  # processed, answer lost
    with pytest.raises(GatewayError) as info:
        gateway.create_link(request, 0.5)
    assert info.value.kind == base.TIMEOUT and not info.value.surely_not_applied
    fault(control, "ok")
    found = gateway.find_link(request, TIMEOUT)
    (order,) = orders(control)
    assert found.link_id == order["id"] and found.is_live


def test_unsupported_amounts_never_reach_paypal(gateway, calls):
    for money in (Money(100000, "INR"), Money(123456, "HUF")):
        with pytest.raises(GatewayError) as info:
            gateway.create_link(link_request(money.minor, money.currency), TIMEOUT)
        assert info.value.kind == base.REJECTED
    assert calls == []


# ---- fetch / capture / cancel ----------------------------------------------------------------------------
def test_pay_then_capture(gateway, control):
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id})
    approved = gateway.fetch_link(link.link_id, TIMEOUT)
    assert approved.status == base.LINK_CREATED and approved.raw["status"] == "APPROVED"
    paid = gateway.capture_order(link.link_id, request.reference, TIMEOUT)
    assert paid.status == base.LINK_PAID and paid.amount_paid == Money(246900, "USD")
    assert gateway.capture_order(link.link_id, request.reference, TIMEOUT).status == base.LINK_PAID  # replay
    assert gateway.capture_order(link.link_id, "another-key", TIMEOUT).status == base.LINK_PAID  # already captured
    assert gateway.fetch_link(link.link_id, TIMEOUT).status == base.LINK_PAID


def test_capture_before_approval_is_rejected(gateway):
    link = gateway.create_link(link_request(), TIMEOUT)
    with pytest.raises(GatewayError) as info:
        gateway.capture_order(link.link_id, "ref", TIMEOUT)
    assert info.value.kind == base.REJECTED and info.value.code == "ORDER_NOT_APPROVED"


def test_declined_capture_is_cancelled(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link.link_id, "outcome": "deny"})
    declined = gateway.capture_order(link.link_id, link.reference, TIMEOUT)
    assert declined.status == base.LINK_CANCELLED and declined.amount_paid == Money(0, "USD")


def test_lapsed_order_is_expired_and_unknown_is_not_found(gateway, control):
    link = gateway.create_link(link_request(), TIMEOUT)
    control.post("/_sandbox/expire", {"gateway": "paypal", "id": link.link_id})
    assert gateway.fetch_link(link.link_id, TIMEOUT).status == base.LINK_EXPIRED
    with pytest.raises(GatewayError) as info:
        gateway.fetch_link("5O190127TN364715T", TIMEOUT)
    assert info.value.kind == base.NOT_FOUND


def test_cancel_makes_no_call(gateway, calls):
    assert gateway.cancel_link("5O190127TN364715T", TIMEOUT) is None
    assert calls == []


# ---- token -----------------------------------------------------------------------------------------------
def test_token_is_fetched_once_then_again_after_expiry(gateway, calls, clock):
    link = gateway.create_link(link_request(), TIMEOUT)
    gateway.fetch_link(link.link_id, TIMEOUT)
    gateway.create_link(link_request(), TIMEOUT)
    assert token_calls(calls) == 1
    clock.now += 32400 - 61  # still inside expires_in minus the margin
    gateway.fetch_link(link.link_id, TIMEOUT)
    assert token_calls(calls) == 1
    clock.now += 2
    gateway.fetch_link(link.link_id, TIMEOUT)
    assert token_calls(calls) == 2


def test_a_refused_token_is_replaced_and_the_call_retried_once(gateway, calls, sandbox):
    link = gateway.create_link(link_request(), TIMEOUT)
    paypal = sandbox.gateways["paypal"]
    with paypal.lock:
        paypal.tokens.clear()  # PayPal forgot the token before we expected
    assert gateway.fetch_link(link.link_id, TIMEOUT).link_id == link.link_id
    assert token_calls(calls) == 2
    assert [status for _, path, status in calls if path.startswith("/v2/")] == [201, 401, 200]


def test_check_credentials_and_a_wrong_secret(settings, calls, clock):
    make_gateway(settings, calls, clock).check_credentials(TIMEOUT)
    wrong = make_gateway(replace(settings, key_secret="wrong"), calls, clock)
    for verb in (lambda: wrong.check_credentials(TIMEOUT), lambda: wrong.create_link(link_request(), TIMEOUT)):
        with pytest.raises(GatewayError) as info:
            verb()
        assert info.value.kind == base.AUTH and info.value.code == "invalid_client"


# ---- faults ----------------------------------------------------------------------------------------------
def test_down_is_unreachable(gateway, control):
    gateway.check_credentials(TIMEOUT)  # a pooled keep-alive connection exists now
    fault(control, "down")
    with pytest.raises(GatewayError) as info:
        gateway.create_link(link_request(), TIMEOUT)
    assert info.value.kind == base.UNREACHABLE and info.value.surely_not_applied
    fault(control, "ok")
    assert gateway.create_link(link_request(), TIMEOUT).is_live


@pytest.mark.parametrize("extra, kind, code, retry_after", [
    ({"status": 503}, base.SERVER, "SERVICE_UNAVAILABLE", None),
    ({"status": 500}, base.SERVER, "INTERNAL_SERVER_ERROR", None),
    ({"status": 502, "body": "html"}, base.SERVER, "http_502", None),
    ({"status": 429, "retry_after": 2}, base.RATE_LIMITED, "RATE_LIMIT_REACHED", 2.0),
])
def test_error_answers(gateway, control, extra, kind, code, retry_after):
    gateway.check_credentials(TIMEOUT)
    fault(control, "error", **extra)
    with pytest.raises(GatewayError) as info:
        gateway.create_link(link_request(), TIMEOUT)
    assert (info.value.kind, info.value.code, info.value.retry_after) == (kind, code, retry_after)


def test_hang_is_a_timeout_within_the_budget(gateway, control):
    gateway.check_credentials(TIMEOUT)
    fault(control, "hang")
    started = time.monotonic()
    with pytest.raises(GatewayError) as info:
        gateway.create_link(link_request(), 0.5)
    assert info.value.kind == base.TIMEOUT and time.monotonic() - started < 1.0


def test_hang_while_fetching_the_token_is_unreachable(gateway, control):
    fault(control, "hang")
    with pytest.raises(GatewayError) as info:
        gateway.create_link(link_request(), 0.5)
    assert info.value.kind == base.UNREACHABLE and info.value.code == "token_read_timeout"


# ---- logs ------------------------------------------------------------------------------------------------
def test_debug_logs_carry_no_secrets(gateway, settings, control, caplog, calls):
    tokens = []
    gateway.session.hooks["response"].append(
        lambda r, *a, **k: tokens.append(r.json()["access_token"]) if r.url.endswith("/oauth2/token") else None)
    caplog.set_level(logging.DEBUG, logger="portal.payments.paypal")
    request = link_request()
    link = gateway.create_link(request, TIMEOUT)
    gateway.fetch_link(link.link_id, TIMEOUT)
    fault(control, "error", status=503)
    with pytest.raises(GatewayError):
        gateway.fetch_link(link.link_id, TIMEOUT)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /v1/oauth2/token -> 200" in text and "POST /v2/checkout/orders -> 201" in text
    assert f"request_id={request.reference}" in text and "debug_id=" in text and "-> 503" in text
    basic = base64.b64encode(f"{settings.key_id}:{settings.key_secret}".encode()).decode()
    assert tokens and all(secret not in text for secret in (settings.key_secret, settings.key_id, basic, *tokens))


def test_threads_share_one_token_fetch(gateway, settings, calls, clock):
    link = gateway.create_link(link_request(), TIMEOUT)
    fresh = make_gateway(settings, calls, clock)  # as at start-up: every thread finds the cache empty
    calls.clear()
    with ThreadPoolExecutor(8) as pool:
        fetched = list(pool.map(lambda _: fresh.fetch_link(link.link_id, TIMEOUT), range(16)))
    assert {f.link_id for f in fetched} == {link.link_id} and token_calls(calls) == 1
