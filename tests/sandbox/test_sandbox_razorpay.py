"""Razorpay conformance: driven only through razorpay-python's Client against the sandbox."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError, SignatureVerificationError

CALLBACK = "http://127.0.0.1:5000/pay/razorpay/callback"


def link_params(**overrides):
    params = {
        "amount": 123450,
        "currency": "INR",
        "reference_id": "INV-0001-a1",
        "description": "Invoice INV-0001",
        "customer": {"name": "Asha", "email": "asha@example.com", "contact": "+919999999999"},
        "notify": {"sms": False, "email": False},
        "reminder_enable": False,
        "notes": {"invoice_id": "1"},
        "callback_url": CALLBACK,
        "callback_method": "get",
    }
    params.update(overrides)
    return params


def callback_query(response) -> dict[str, str]:
    assert response.status_code == 303
    location = urlparse(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return {k: v[0] for k, v in parse_qs(location.query, keep_blank_values=True).items()}


def sdk_callback_params(query: dict[str, str]) -> dict[str, str]:
    # verify_payment_link_signature wants the un-prefixed names (razorpay/utility/utility.py).
    return {"razorpay_payment_id": query["razorpay_payment_id"], "payment_link_id": query["razorpay_payment_link_id"],
            "payment_link_reference_id": query["razorpay_payment_link_reference_id"],
            "payment_link_status": query["razorpay_payment_link_status"],
            "razorpay_signature": query["razorpay_signature"]}


def test_create_fetch_list_edit_cancel(razorpay_client, reference):
    link = razorpay_client.payment_link.create(link_params())
    assert link["id"].startswith("plink_") and link["status"] == "created" and link["amount"] == 123450
    assert set(reference("razorpay/fake_payment_link.json")) - {"order_id"} <= set(link)
    assert razorpay_client.payment_link.fetch(link["id"]) == link
    listed = razorpay_client.payment_link.all({"reference_id": "INV-0001-a1"})
    assert [l["id"] for l in listed["payment_links"]] == [link["id"]]
    assert razorpay_client.payment_link.all({"reference_id": "nope"}) == {"payment_links": []}

    edited = razorpay_client.payment_link.edit(link["id"], {"notes": {"invoice_id": "1", "v": "2"}})
    assert edited["notes"] == {"invoice_id": "1", "v": "2"}
    cancelled = razorpay_client.payment_link.cancel(link["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] > 0
    assert set(reference("razorpay/cancel_payment_link.json")) - {"order_id"} <= set(cancelled)
    with pytest.raises(BadRequestError):
        razorpay_client.payment_link.cancel(link["id"])


def test_duplicate_reference_id_is_bad_request(razorpay_client):
    razorpay_client.payment_link.create(link_params(reference_id="dup-1"))
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment_link.create(link_params(reference_id="dup-1"))
    assert "reference_id" in str(info.value)
    assert len(razorpay_client.payment_link.all({"reference_id": "dup-1"})["payment_links"]) == 1


def test_error_body_has_reference_shape(sandbox, reference):
    base = sandbox.servers["razorpay"].base_url
    auth = (sandbox.config.razorpay_key_id, sandbox.config.razorpay_key_secret)
    response = requests.post(f"{base}/v1/payment_links", json=link_params(amount=99), auth=auth, timeout=5)
    assert response.status_code == 400
    expected = reference("razorpay/bad_request_error.json")
    assert set(expected["error"]) <= set(response.json()["error"])
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR" and response.json()["error"]["field"] == "amount"


@pytest.mark.parametrize("overrides, field", [
    ({"amount": 99}, "amount"),
    ({"amount": "100"}, "amount"),
    ({"reference_id": "x" * 41}, "reference_id"),
    ({"callback_method": "post"}, "callback_method"),
    ({"expire_by": int(time.time()) + 10 * 60}, "expire_by"),
    ({"accept_partial": False, "first_min_partial_amount": 100}, "first_min_partial_amount"),
    ({"accept_partial": True, "first_min_partial_amount": 200000}, "first_min_partial_amount"),
    ({"description": "d" * 2049}, "description"),
    ({"notes": {str(i): "v" for i in range(16)}}, "notes"),
    ({"colour": "red"}, "colour"),
    ({"currency": "XYZ"}, "currency"),
])
def test_field_rules(razorpay_client, sandbox, overrides, field):
    with pytest.raises(BadRequestError):
        razorpay_client.payment_link.create(link_params(**overrides))
    base = sandbox.servers["razorpay"].base_url
    auth = (sandbox.config.razorpay_key_id, sandbox.config.razorpay_key_secret)
    body = requests.post(f"{base}/v1/payment_links", json=link_params(**overrides), auth=auth, timeout=5).json()
    assert body["error"]["field"] == field


def test_expire_by_at_least_15_minutes_is_accepted(razorpay_client):
    expire_by = int(time.time()) + 16 * 60
    assert razorpay_client.payment_link.create(link_params(expire_by=expire_by))["expire_by"] == expire_by


def test_bad_credentials(sandbox):
    client = razorpay.Client(auth=(sandbox.config.razorpay_key_id, "wrong"), base_url=sandbox.servers["razorpay"].base_url)
    with pytest.raises(BadRequestError):
        client.payment_link.create(link_params())


def test_fetch_unknown_id(razorpay_client):
    with pytest.raises(BadRequestError) as info:
        razorpay_client.payment_link.fetch("plink_doesnotexist")
    assert "does not exist" in str(info.value)


def test_hosted_page_pay_redirects_with_valid_signature_and_webhook(razorpay_client, sandbox, receiver, reference):
    link = razorpay_client.payment_link.create(link_params())
    page = requests.get(link["short_url"], timeout=5)
    assert page.status_code == 200 and "1234.50" in page.text
    query = callback_query(requests.post(link["short_url"] + "/pay", allow_redirects=False, timeout=5))
    assert query["razorpay_payment_link_id"] == link["id"]
    assert query["razorpay_payment_link_reference_id"] == "INV-0001-a1"
    assert query["razorpay_payment_link_status"] == "paid"
    assert razorpay_client.utility.verify_payment_link_signature(sdk_callback_params(query))
    forged = dict(sdk_callback_params(query), payment_link_status="partially_paid")
    with pytest.raises(SignatureVerificationError):
        razorpay_client.utility.verify_payment_link_signature(forged)

    (delivery,) = receiver.wait_for(1)
    body = delivery["body"].decode()
    headers = delivery["headers"]
    secret = sandbox.config.razorpay_webhook_secret
    assert razorpay_client.utility.verify_webhook_signature(body, headers["X-Razorpay-Signature"], secret)
    with pytest.raises(SignatureVerificationError):
        razorpay_client.utility.verify_webhook_signature(body.replace("123450", "123460"),
                                                         headers["X-Razorpay-Signature"], secret)
    assert headers["X-Razorpay-Event-Id"]
    event = json.loads(body)
    assert event["event"] == "payment_link.paid" and event["entity"] == "event"
    assert set(event["contains"]) == {"payment_link", "order", "payment"}
    payload = event["payload"]
    assert payload["payment_link"]["entity"]["status"] == "paid"
    assert payload["payment"]["entity"]["id"] == query["razorpay_payment_id"]
    assert payload["order"]["entity"]["id"] == payload["payment_link"]["entity"]["order_id"]
    reference_payment = reference("razorpay/fake_payment_authorized_webhook.json")["payload"]["payment"]["entity"]
    # The live API renamed service_tax to tax.
    assert set(reference_payment) - {"service_tax"} <= set(payload["payment"]["entity"])
    fetched = razorpay_client.payment_link.fetch(link["id"])
    assert fetched["status"] == "paid" and fetched["amount_paid"] == 123450
    assert set(fetched["payments"][0]) >= {"amount", "created_at", "method", "payment_id", "status"}


def test_partial_payments(razorpay_client, control, receiver):
    link = razorpay_client.payment_link.create(link_params(accept_partial=True, first_min_partial_amount=50000))
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link["id"], "amount_minor": 40000}, expect=409)
    first = requests.post(link["short_url"] + "/pay", data={"amount_minor": "60000"}, allow_redirects=False, timeout=5)
    assert callback_query(first)["razorpay_payment_link_status"] == "partially_paid"
    assert razorpay_client.utility.verify_payment_link_signature(sdk_callback_params(callback_query(first)))
    control.post("/_sandbox/pay", {"gateway": "razorpay", "id": link["id"]})
    receiver.wait_for(2)
    events = sorted(receiver.events(), key=lambda e: e["payload"]["payment_link"]["entity"]["amount_paid"])
    assert [e["event"] for e in events] == ["payment_link.partially_paid", "payment_link.paid"]
    fetched = razorpay_client.payment_link.fetch(link["id"])
    assert fetched["amount_paid"] == 123450 and len(fetched["payments"]) == 2


def test_cancel_and_expiry_emit_events(razorpay_client, control, receiver):
    a = razorpay_client.payment_link.create(link_params(reference_id="a"))
    b = razorpay_client.payment_link.create(link_params(reference_id="b"))
    razorpay_client.payment_link.cancel(a["id"])
    control.post("/_sandbox/expire", {"gateway": "razorpay", "id": b["id"]})
    receiver.wait_for(2)
    assert sorted(e["event"] for e in receiver.events()) == ["payment_link.cancelled", "payment_link.expired"]
    assert razorpay_client.payment_link.fetch(b["id"])["status"] == "expired"
    assert "expired" in requests.get(b["short_url"], timeout=5).text
