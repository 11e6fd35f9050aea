"""Outage drills: each fault mode must surface in the official SDKs exactly as the real outage would."""

from __future__ import annotations

import time

import pytest
import requests
import stripe
from razorpay.errors import BadRequestError, GatewayError, ServerError


SESSION = {"mode": "payment", "success_url": "http://127.0.0.1:5000/done",
           "line_items": [{"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "x"}},
                           "quantity": 1}]}


def fault(control, gateway, mode, **extra):
    return control.post("/_sandbox/faults", {"gateway": gateway, "mode": mode, **extra})


def create_session(client):
    return client.v1.checkout.sessions.create(params=SESSION)


def create_link(client, **kwargs):
    return client.payment_link.create({"amount": 1000, "currency": "INR", "reference_id": f"r{time.time_ns()}"},
                                      **kwargs)


# ---- down: connection refused, and back on the same port -------------------------------------------
def test_stripe_down_is_connection_error_then_recovers(stripe_client, control, sandbox):
    create_session(stripe_client)  # a pooled keep-alive connection exists now
    port = sandbox.servers["stripe"].port
    fault(control, "stripe", "down")
    with pytest.raises(stripe.APIConnectionError):
        create_session(stripe_client)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/v1/events", timeout=2)
    fault(control, "stripe", "ok")
    assert sandbox.servers["stripe"].port == port
    assert create_session(stripe_client).status == "open"


def test_razorpay_down_is_requests_connection_error(razorpay_client, control):
    create_link(razorpay_client)
    fault(control, "razorpay", "down")
    with pytest.raises(requests.exceptions.ConnectionError):
        create_link(razorpay_client, timeout=2)
    fault(control, "razorpay", "ok")
    assert create_link(razorpay_client, timeout=2)["status"] == "created"


def test_state_reports_down(control):
    fault(control, "paypal", "down")
    assert control.get("/_sandbox/state")["paypal"]["up"] is False


# ---- error: 5xx and 429 with the gateway's body -----------------------------------------------------
def test_stripe_503_is_api_error(stripe_client, control):
    fault(control, "stripe", "error", status=503)
    with pytest.raises(stripe.APIError) as info:
        create_session(stripe_client)
    assert info.value.http_status == 503 and info.value.error.type == "api_error"


def test_stripe_429_is_rate_limit_error_with_retry_after(stripe_client, control):
    fault(control, "stripe", "error", status=429, retry_after=2)
    with pytest.raises(stripe.RateLimitError) as info:
        create_session(stripe_client)
    assert info.value.http_status == 429 and info.value.headers["Retry-After"] == "2"


@pytest.mark.parametrize("status, exception", [(500, ServerError), (503, ServerError), (502, GatewayError),
                                               (504, GatewayError), (429, BadRequestError)])
def test_razorpay_errors_map_like_the_real_api(razorpay_client, control, sandbox, status, exception):
    fault(control, "razorpay", "error", status=status)
    with pytest.raises(exception):
        create_link(razorpay_client, timeout=2)
    raw = requests.get(sandbox.servers["razorpay"].base_url + "/v1/payment_links", timeout=2)
    assert raw.status_code == status and set(raw.json()["error"]) >= {"code", "description", "field"}
    if status == 429:
        assert raw.headers["Retry-After"] == "1"


def test_error_rate_is_deterministic_with_a_seed(stripe_client, control):
    def outcomes():
        fault(control, "stripe", "error", status=500, error_rate=0.5, seed=7)
        results = []
        for _ in range(12):
            try:
                stripe_client.v1.events.list()
                results.append("ok")
            except stripe.APIError:
                results.append("err")
        return results

    first, second = outcomes(), outcomes()
    assert first == second and "ok" in first and "err" in first


# ---- hang: accepted, never answered -> read timeout ------------------------------------------------
def test_stripe_hang_is_connection_error_after_timeout(sandbox, control):
    client = stripe.StripeClient(sandbox.config.stripe_secret_key,
                                 base_addresses={"api": sandbox.servers["stripe"].base_url},
                                 http_client=stripe.RequestsClient(timeout=0.5))
    fault(control, "stripe", "hang")
    started = time.time()
    with pytest.raises(stripe.APIConnectionError):
        create_session(client)
    assert 0.4 < time.time() - started < 3
    fault(control, "stripe", "ok")  # releases the held request thread
    assert sandbox.faults["stripe"].hung_requests == 0 or wait_until(lambda: sandbox.faults["stripe"].hung_requests == 0)


def test_razorpay_hang_is_read_timeout(razorpay_client, control):
    fault(control, "razorpay", "hang")
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_link(razorpay_client, timeout=0.5)


# ---- slow: latency, then a normal answer ------------------------------------------------------------
def test_slow_adds_latency(stripe_client, razorpay_client, control):
    fault(control, "all", "slow", latency_ms=300)
    started = time.time()
    assert create_session(stripe_client).status == "open"
    assert create_link(razorpay_client, timeout=3)["status"] == "created"
    assert time.time() - started >= 0.6


def test_reset_clears_faults(stripe_client, control):
    fault(control, "stripe", "down")
    control.post("/_sandbox/reset")
    assert create_session(stripe_client).status == "open"


def test_control_rejects_unknown_modes(control):
    control.post("/_sandbox/faults", {"gateway": "stripe", "mode": "melt"}, expect=400)
    control.post("/_sandbox/faults", {"gateway": "visa", "mode": "ok"}, expect=400)


def wait_until(predicate, timeout=3.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_hang_has_no_effect_unless_asked(razorpay_client, control):
    fault(control, "razorpay", "hang")
    with pytest.raises(requests.exceptions.ReadTimeout):
        razorpay_client.payment_link.create({"amount": 1000, "reference_id": "lost-1"}, timeout=0.3)
    fault(control, "razorpay", "hang", effect=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        razorpay_client.payment_link.create({"amount": 1000, "reference_id": "taken-1"}, timeout=0.3)
    fault(control, "razorpay", "ok")
    # A timeout after sending is ambiguous: look the link up by reference_id before creating another.
    assert razorpay_client.payment_link.all({"reference_id": "lost-1"}, timeout=2) == {"payment_links": []}
    (link,) = razorpay_client.payment_link.all({"reference_id": "taken-1"}, timeout=2)["payment_links"]
    assert link["amount"] == 1000


def test_html_error_page_from_a_proxy(stripe_client, razorpay_client, control):
    fault(control, "all", "error", status=502, body="html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        create_link(razorpay_client, timeout=2)
    with pytest.raises(stripe.APIError) as info:
        create_session(stripe_client)
    assert info.value.http_status == 502


def test_lost_answer_then_retry_with_same_idempotency_key_gives_one_session(sandbox, control):
    client = stripe.StripeClient(sandbox.config.stripe_secret_key,
                                 base_addresses={"api": sandbox.servers["stripe"].base_url},
                                 http_client=stripe.RequestsClient(timeout=0.3))
    fault(control, "stripe", "hang", effect=True)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "inv-1-attempt-1"})
    fault(control, "stripe", "ok")
    session = client.v1.checkout.sessions.create(params=SESSION, options={"idempotency_key": "inv-1-attempt-1"})
    assert session.last_response.headers["Idempotent-Replayed"] == "true"
    assert list(sandbox.gateways["stripe"].sessions) == [session.id]
