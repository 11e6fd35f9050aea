"""PayPal conformance over plain HTTP (PayPal's REST protocol): OAuth tokens, Orders v2, approval page,
webhooks signed with SHA256withRSA and checked with `cryptography`, and the verify postback. Requests
and responses are validated against the reference OpenAPI documents."""

from __future__ import annotations

import base64
import json
import time
import zlib
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

RETURN_URL = "http://127.0.0.1:5000/pay/paypal/return"
CANCEL_URL = "http://127.0.0.1:5000/pay/paypal/cancel"


@pytest.fixture(scope="module")
def schemas(reference):
    """validate(document, component, instance) against a schema of a reference OpenAPI document."""
    documents = {name: reference(f"paypal/{name}.json") for name in ("checkout_orders_v2", "notifications_webhooks_v1", "payments_payment_v2")}

    def validate(document: str, component: str, instance):
        schema = {"$ref": f"#/components/schemas/{component}", "components": documents[document]["components"]}
        jsonschema.Draft4Validator(schema).validate(instance)

    return validate


class PayPal:
    def __init__(self, sandbox):
        self.base = sandbox.servers["paypal"].base_url
        self.config = sandbox.config
        self._token = None

    def token(self) -> str:
        if self._token is None:
            response = requests.post(f"{self.base}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                                     auth=(self.config.paypal_client_id, self.config.paypal_client_secret), timeout=5)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def call(self, method: str, path: str, body=None, request_id: str | None = None, prefer: str | None = None,
             timeout: float = 5):
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        if prefer:
            headers["Prefer"] = prefer
        return requests.request(method, self.base + path, headers=headers, timeout=timeout,
                                data=None if body is None else json.dumps(body))


@pytest.fixture
def paypal(sandbox):
    return PayPal(sandbox)


def order_request(value="25.00", currency="USD", invoice_id="INV-0001-a1", style="payment_source"):
    body = {"intent": "CAPTURE",
            "purchase_units": [{"reference_id": "inv_1", "custom_id": "1", "invoice_id": invoice_id,
                                "description": "Invoice INV-0001",
                                "amount": {"currency_code": currency, "value": value}}]}
    urls = {"return_url": RETURN_URL, "cancel_url": CANCEL_URL}
    if style == "payment_source":
        body["payment_source"] = {"paypal": {"experience_context": {**urls, "user_action": "PAY_NOW"}}}
    else:
        body["application_context"] = urls
    return body


def link(order, rel):
    return next(l["href"] for l in order["links"] if l["rel"] == rel)


def test_token(paypal, sandbox):
    response = requests.post(f"{paypal.base}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(sandbox.config.paypal_client_id, sandbox.config.paypal_client_secret), timeout=5)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"scope", "access_token", "token_type", "app_id", "expires_in", "nonce"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == sandbox.config.paypal_token_ttl_s
    bad = requests.post(f"{paypal.base}/v1/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(sandbox.config.paypal_client_id, "wrong"), timeout=5)
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    no_grant = requests.post(f"{paypal.base}/v1/oauth2/token",
                             auth=(sandbox.config.paypal_client_id, sandbox.config.paypal_client_secret), timeout=5)
    assert no_grant.status_code == 400


def test_token_expires(paypal, sandbox, schemas):
    sandbox.config.paypal_token_ttl_s = 1
    try:
        paypal.token()
        assert paypal.call("POST", "/v2/checkout/orders", order_request()).status_code == 201
        time.sleep(1.1)
        expired = paypal.call("GET", "/v2/checkout/orders/ANY")
        assert expired.status_code == 401
        schemas("checkout_orders_v2", "error_401", expired.json())
    finally:
        sandbox.config.paypal_token_ttl_s = 32400


@pytest.mark.parametrize("style, status, rel", [("payment_source", "PAYER_ACTION_REQUIRED", "payer-action"),
                                                ("application_context", "CREATED", "approve")])
def test_create_both_return_url_styles(paypal, schemas, style, status, rel):
    request_body = order_request(style=style)
    schemas("checkout_orders_v2", "order_request", request_body)
    response = paypal.call("POST", "/v2/checkout/orders", request_body)
    assert response.status_code == 201
    order = response.json()
    schemas("checkout_orders_v2", "order", order)
    assert order["status"] == status
    assert link(order, rel).startswith(paypal.base + "/checkoutnow?token=" + order["id"])

    full = paypal.call("GET", f"/v2/checkout/orders/{order['id']}").json()
    schemas("checkout_orders_v2", "order", full)
    assert full["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "25.00"}
    assert full["purchase_units"][0]["invoice_id"] == "INV-0001-a1"


def test_prefer_representation(paypal, schemas):
    order = paypal.call("POST", "/v2/checkout/orders", order_request(), prefer="return=representation").json()
    schemas("checkout_orders_v2", "order", order)
    assert order["purchase_units"][0]["custom_id"] == "1" and order["intent"] == "CAPTURE"


def test_request_id_replays_and_duplicate_invoice(paypal, sandbox, schemas):
    first = paypal.call("POST", "/v2/checkout/orders", order_request(), request_id="req-1")
    again = paypal.call("POST", "/v2/checkout/orders", order_request(), request_id="req-1")
    assert first.status_code == again.status_code == 201 and again.content == first.content
    assert len(sandbox.gateways["paypal"].orders) == 1
    other = paypal.call("POST", "/v2/checkout/orders", order_request(), request_id="req-2")
    assert other.status_code == 422
    body = other.json()
    schemas("checkout_orders_v2", "error_422", body)
    assert body["name"] == "UNPROCESSABLE_ENTITY" and body["details"][0]["issue"] == "DUPLICATE_INVOICE_ID"
    assert body["debug_id"] and body["links"]


@pytest.mark.parametrize("value, currency, status, issue", [
    ("25.00", "INR", 422, "CURRENCY_NOT_SUPPORTED"),
    ("100.5", "JPY", 422, "DECIMALS_NOT_SUPPORTED"),
    ("10.005", "USD", 422, "DECIMAL_PRECISION"),
    ("0.00", "USD", 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
    ("ten", "USD", 400, "INVALID_PARAMETER_SYNTAX"),
])
def test_amount_errors(paypal, schemas, value, currency, status, issue):
    response = paypal.call("POST", "/v2/checkout/orders", order_request(value, currency, invoice_id=f"i-{issue}"))
    assert response.status_code == status
    body = response.json()
    schemas("checkout_orders_v2", f"error_{status}", body)
    assert body["details"][0]["issue"] == issue


def test_no_decimal_currency_accepts_whole_values(paypal):
    order = paypal.call("POST", "/v2/checkout/orders", order_request("500", "JPY")).json()
    assert order["status"] == "PAYER_ACTION_REQUIRED"


def test_missing_intent_and_unknown_order(paypal, schemas):
    body = order_request()
    del body["intent"]
    bad = paypal.call("POST", "/v2/checkout/orders", body)
    assert bad.status_code == 400
    schemas("checkout_orders_v2", "error_400", bad.json())
    assert bad.json()["details"][0] == {**bad.json()["details"][0], "field": "/intent", "issue": "MISSING_REQUIRED_PARAMETER"}
    missing = paypal.call("GET", "/v2/checkout/orders/5O190127TN364715T")
    assert missing.status_code == 404
    schemas("checkout_orders_v2", "error_404", missing.json())


def test_capture_before_approval_is_422(paypal, schemas):
    order = paypal.call("POST", "/v2/checkout/orders", order_request()).json()
    response = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", {})
    assert response.status_code == 422 and response.json()["details"][0]["issue"] == "ORDER_NOT_APPROVED"
    schemas("checkout_orders_v2", "error_422", response.json())


def verify_offline(delivery, webhook_id: str, cert_host: str) -> bool:
    """PayPal's offline check: fetch the certificate (only from the expected host), then verify
    SHA256withRSA over transmission_id|transmission_time|webhook_id|crc32(body)."""
    headers = delivery["headers"]
    cert_url = headers["Paypal-Cert-Url"]
    assert urlparse(cert_url).netloc == cert_host
    certificate = x509.load_pem_x509_certificate(requests.get(cert_url, timeout=5).content)
    message = "|".join([headers["Paypal-Transmission-Id"], headers["Paypal-Transmission-Time"], webhook_id,
                        str(zlib.crc32(delivery["body"]) & 0xFFFFFFFF)]).encode()
    assert headers["Paypal-Auth-Algo"] == "SHA256withRSA"
    try:
        certificate.public_key().verify(base64.b64decode(headers["Paypal-Transmission-Sig"]), message,
                                        padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def postback(paypal, delivery, webhook_id: str, event_text: str, schemas=None) -> str:
    headers = delivery["headers"]
    fields = {"auth_algo": headers["Paypal-Auth-Algo"], "cert_url": headers["Paypal-Cert-Url"],
              "transmission_id": headers["Paypal-Transmission-Id"],
              "transmission_sig": headers["Paypal-Transmission-Sig"],
              "transmission_time": headers["Paypal-Transmission-Time"], "webhook_id": webhook_id}
    # Splice the delivered body in unchanged: PayPal's CRC covers the exact bytes.
    raw = json.dumps(fields)[:-1] + ', "webhook_event": ' + event_text + "}"
    if schemas:
        schemas("notifications_webhooks_v1", "verify_webhook_signature", json.loads(raw))
    response = requests.post(f"{paypal.base}/v1/notifications/verify-webhook-signature", data=raw, timeout=5,
                             headers={"Authorization": f"Bearer {paypal.token()}", "Content-Type": "application/json"})
    assert response.status_code == 200
    if schemas:
        schemas("notifications_webhooks_v1", "verify_webhook_signature_response", response.json())
    return response.json()["verification_status"]


def test_approve_capture_and_signed_webhooks(paypal, sandbox, receiver, schemas):
    order = paypal.call("POST", "/v2/checkout/orders", order_request()).json()
    approval = link(order, "payer-action")
    assert "25.00 USD" in requests.get(approval, timeout=5).text
    approved = requests.post(f"{paypal.base}/checkoutnow/approve", data={"token": order["id"]},
                             allow_redirects=False, timeout=5)
    assert approved.status_code == 303
    location = urlparse(approved.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["token"] == order["id"] and query["PayerID"]

    got = paypal.call("GET", f"/v2/checkout/orders/{order['id']}").json()
    assert got["status"] == "APPROVED"
    schemas("checkout_orders_v2", "order", got)

    capture_request = {}
    schemas("checkout_orders_v2", "order_capture_request", capture_request)
    captured = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", capture_request, request_id="cap-1")
    assert captured.status_code == 201
    body = captured.json()
    schemas("checkout_orders_v2", "order", body)
    assert body["status"] == "COMPLETED"
    capture = body["purchase_units"][0]["payments"]["captures"][0]
    assert capture["status"] == "COMPLETED" and capture["amount"]["value"] == "25.00"
    assert capture["invoice_id"] == "INV-0001-a1"
    replay = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", capture_request, request_id="cap-1")
    assert replay.status_code == 201 and replay.content == captured.content
    twice = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", capture_request, request_id="cap-2")
    assert twice.status_code == 422 and twice.json()["details"][0]["issue"] == "ORDER_ALREADY_CAPTURED"

    deliveries = receiver.wait_for(2)
    webhook_id = sandbox.config.paypal_webhook_id
    cert_host = urlparse(paypal.base).netloc
    types = []
    for delivery in deliveries:
        event = json.loads(delivery["body"])
        types.append(event["event_type"])
        schemas("notifications_webhooks_v1", "event", event)
        assert verify_offline(delivery, webhook_id, cert_host)
        assert not verify_offline({**delivery, "body": delivery["body"].replace(b"25.00", b"26.00")}, webhook_id,
                                  cert_host)
        assert postback(paypal, delivery, webhook_id, delivery["body"].decode(), schemas) == "SUCCESS"
        assert postback(paypal, delivery, webhook_id, json.dumps(event)) == "FAILURE"  # re-encoded JSON
        assert postback(paypal, delivery, "OTHERWEBHOOKID", delivery["body"].decode()) == "FAILURE"
        if event["event_type"] == "PAYMENT.CAPTURE.COMPLETED":
            schemas("payments_payment_v2", "capture-2", event["resource"])
            assert event["resource"]["supplementary_data"]["related_ids"]["order_id"] == order["id"]
    assert sorted(types) == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.COMPLETED"]


def test_a_capture_is_shown_by_id(paypal, control, schemas):
    """GET /v2/payments/captures/{id} (Payments v2 `captures.get`): what a webhook's capture really is."""
    order = paypal.call("POST", "/v2/checkout/orders", order_request(value="19.99", currency="EUR")).json()
    completed = control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "capture": True})
    in_order = completed["purchase_units"][0]["payments"]["captures"][0]
    response = paypal.call("GET", f"/v2/payments/captures/{in_order['id']}")
    assert response.status_code == 200 and response.headers["Paypal-Debug-Id"]
    capture = response.json()
    schemas("payments_payment_v2", "capture-2", capture)
    assert {k: capture[k] for k in ("id", "status", "amount", "invoice_id", "custom_id")} == \
        {"id": in_order["id"], "status": "COMPLETED", "amount": {"currency_code": "EUR", "value": "19.99"},
         "invoice_id": "INV-0001-a1", "custom_id": "1"}
    assert capture["supplementary_data"]["related_ids"]["order_id"] == order["id"]
    assert capture["payee"]["merchant_id"]
    missing = paypal.call("GET", "/v2/payments/captures/2GG279541U471931P")
    assert missing.status_code == 404 and missing.json()["details"][0]["issue"] == "INVALID_RESOURCE_ID"
    schemas("payments_payment_v2", "error_404", missing.json())
    unauthenticated = requests.get(f"{paypal.base}/v2/payments/captures/{in_order['id']}", timeout=5)
    assert unauthenticated.status_code == 401


def test_denied_capture(paypal, control, receiver):
    order = paypal.call("POST", "/v2/checkout/orders", order_request(style="application_context")).json()
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "outcome": "deny"})
    captured = paypal.call("POST", f"/v2/checkout/orders/{order['id']}/capture", {}).json()
    assert captured["purchase_units"][0]["payments"]["captures"][0]["status"] == "DECLINED"
    receiver.wait_for(2)
    assert sorted(e["event_type"] for e in receiver.events()) == ["CHECKOUT.ORDER.APPROVED", "PAYMENT.CAPTURE.DENIED"]


def test_cancel_on_approval_page_returns_to_cancel_url(paypal):
    order = paypal.call("POST", "/v2/checkout/orders", order_request()).json()
    cancelled = requests.post(f"{paypal.base}/checkoutnow/cancel", data={"token": order["id"]},
                              allow_redirects=False, timeout=5)
    assert cancelled.headers["Location"] == f"{CANCEL_URL}?token={order['id']}"


def test_control_pay_with_capture(paypal, control, receiver):
    order = paypal.call("POST", "/v2/checkout/orders", order_request()).json()
    result = control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "capture": True})
    assert result["status"] == "COMPLETED" and result["redirect"].startswith(RETURN_URL)
    receiver.wait_for(2)


def test_paypal_faults(paypal, control, schemas):
    paypal.token()
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "error", "status": 503})
    failed = paypal.call("POST", "/v2/checkout/orders", order_request())
    assert failed.status_code == 503 and failed.json()["name"] == "SERVICE_UNAVAILABLE"
    schemas("checkout_orders_v2", "error_503", failed.json())
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "error", "status": 500})
    schemas("checkout_orders_v2", "error_500", paypal.call("GET", "/v2/checkout/orders/X").json())
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "hang"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        paypal.call("POST", "/v2/checkout/orders", order_request(), timeout=0.5)
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    with pytest.raises(requests.exceptions.ConnectionError):
        paypal.call("POST", "/v2/checkout/orders", order_request())
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "ok"})
    assert paypal.call("POST", "/v2/checkout/orders", order_request()).status_code == 201


# ---- where the sandbox must match the published Orders v2 document (tests/reference/paypal/checkout_orders_v2.json:
# purchase_unit_request custom_id/invoice_id maxLength 127, parameter paypal_request_id maxLength 108, error_415) ----
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_a_body_that_is_not_declared_json_is_unsupported_media_type(paypal, sandbox, schemas, content_type):
    headers = {"Authorization": f"Bearer {paypal.token()}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = requests.post(paypal.base + "/v2/checkout/orders", data=json.dumps(order_request()).encode(),
                             headers=headers, timeout=5)
    assert response.status_code == 415
    body = response.json()
    schemas("checkout_orders_v2", "error_415", body)
    assert body["name"] == "UNSUPPORTED_MEDIA_TYPE" and body["debug_id"]
    assert response.headers["Paypal-Debug-Id"] == body["debug_id"]
    assert sandbox.gateways["paypal"].orders == {}


def test_json_with_a_charset_is_accepted(paypal):
    response = requests.post(paypal.base + "/v2/checkout/orders", data=json.dumps(order_request()).encode(),
                             headers={"Authorization": f"Bearer {paypal.token()}",
                                      "Content-Type": "application/json; charset=utf-8"}, timeout=5)
    assert response.status_code == 201


def test_capture_with_a_form_body_is_unsupported_media_type(paypal, control):
    order = paypal.call("POST", "/v2/checkout/orders", order_request(invoice_id="inv-415-capture")).json()
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": order["id"], "capture": False})
    response = requests.post(f"{paypal.base}/v2/checkout/orders/{order['id']}/capture", data="a=b",
                             headers={"Authorization": f"Bearer {paypal.token()}",
                                      "Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
    assert response.status_code == 415
    assert paypal.call("GET", f"/v2/checkout/orders/{order['id']}").json()["status"] == "APPROVED"


@pytest.mark.parametrize("key", ["custom_id", "invoice_id"])
def test_custom_id_and_invoice_id_are_at_most_127_characters(paypal, schemas, key):
    body = order_request(invoice_id=f"inv-limit-{key}")
    body["purchase_units"][0][key] = "x" * 127
    assert paypal.call("POST", "/v2/checkout/orders", body).status_code == 201
    body = order_request(invoice_id=f"inv-over-{key}")
    body["purchase_units"][0][key] = "y" * 128
    response = paypal.call("POST", "/v2/checkout/orders", body)
    assert response.status_code == 400
    error = response.json()
    schemas("checkout_orders_v2", "error_400", error)
    assert error["details"][0]["issue"] == "INVALID_STRING_LENGTH"
    assert error["details"][0]["field"] == f"/purchase_units/0/{key}"


def test_request_id_is_at_most_108_characters(paypal, sandbox, schemas):
    assert paypal.call("POST", "/v2/checkout/orders", order_request(invoice_id="inv-rid-ok"),
                       request_id="r" * 108).status_code == 201
    response = paypal.call("POST", "/v2/checkout/orders", order_request(invoice_id="inv-rid-long"),
                           request_id="r" * 109)
    assert response.status_code == 400
    error = response.json()
    schemas("checkout_orders_v2", "error_400", error)
    assert error["name"] == "INVALID_REQUEST"
    assert (error["details"][0]["field"], error["details"][0]["issue"]) == ("PayPal-Request-Id", "INVALID_STRING_LENGTH")
    assert len(sandbox.gateways["paypal"].orders) == 1
