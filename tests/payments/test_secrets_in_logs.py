"""Nothing secret reaches the logs (issue 8, item 8): a session full of payments, webhooks good and bad, and
errors, with every log record at DEBUG and the process's stdout/stderr captured, then searched for every
configured secret, every signature, token, password and cookie the session used."""
import hashlib
import hmac
import json
import logging

import requests
import stripe

from portal.extensions import csrf, db
from portal.models import Invoice, WebhookDelivery
from tests.conftest import PASSWORD
from tests.payments.test_webhooks import CURRENCY, items_for, wait_for

SECRET_SETTINGS = ("SECRET_KEY", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET", "STRIPE_SECRET_KEY",
                   "STRIPE_WEBHOOK_SECRET", "PAYPAL_CLIENT_SECRET")
SIGNATURE_HEADERS = ("stripe-signature", "x-razorpay-signature", "paypal-transmission-sig")
WRONG_PASSWORD = "Tr0ub4dor&3-not-the-password"


def _signature_values(headers: dict) -> set[str]:
    """The secret part of each signature header: Stripe's v1 HMACs, Razorpay's HMAC, PayPal's signature."""
    found = set()
    for name, value in headers.items():
        if name.lower() in SIGNATURE_HEADERS and value:
            found |= {part.split("=", 1)[1] for part in value.split(",") if part.startswith("v1=")} or {value}
    return found


def _break_the_database_with_webhook_headers(app):
    """A request whose database write fails (IntegrityError) with a stored delivery's headers among the
    statement's parameters: the shape of the review's finding."""

    @app.post("/_test/integrity-error")
    def integrity_error():
        stored = db.session.scalars(db.select(WebhookDelivery).where(WebhookDelivery.verified.is_(True))).first()
        db.session.add(WebhookDelivery(gateway=None, body=b"{}", headers=stored.headers, verified=False,
                                       outcome="received"))
        db.session.commit()  # gateway is NOT NULL: IntegrityError, unhandled, logged by the 500 handler
        return "unreachable"

    csrf.exempt(integrity_error)


def test_a_busy_session_at_debug_logs_no_secret(pay_app, live_server, sandbox, control, browser, api, client,
                                                caplog, capfd):
    _break_the_database_with_webhook_headers(pay_app)
    for gateway in ("razorpay", "stripe", "paypal"):
        sandbox.set_webhook_target(gateway, f"{live_server}/webhooks/{gateway}")
    caplog.set_level(logging.DEBUG)  # the root logger and its handler: every record that propagates
    caplog.set_level(logging.DEBUG, logger="portal")  # LOG_LEVEL=DEBUG
    signatures: set[str] = set()

    # Staff sign in (a wrong password first) and keep the session and remember-me cookies.
    assert browser.login("staff@example.com", WRONG_PASSWORD).status_code == 401
    response = browser.client.post("/login", data={"email": "staff@example.com", "password": PASSWORD,
                                                   "remember": "y", "csrf_token": browser.token("/login")})
    assert response.status_code == 302
    cookies = {name: browser.client.get_cookie(name).value for name in ("session", "remember_token")}
    assert browser.get("/invoices/").status_code == 200

    # Through the API: an invoice per gateway and its link; each customer pays; signed webhooks land.
    invoices = {}
    for gateway, currency in CURRENCY.items():
        created = api.post("/invoices", json={"customer": {"name": "Asha", "email": "asha@example.com"},
                                              "currency": currency,
                                              "items": items_for(currency) or [
                                                  {"description": "Design", "quantity": 1, "unit_price": "500.00"}]})
        assert created.status_code == 201, created.get_data(as_text=True)
        invoice_id = created.get_json()["id"]
        link = api.post(f"/invoices/{invoice_id}/payment-link", json={"gateway": gateway})
        assert link.status_code in (200, 201), link.get_data(as_text=True)
        control.post("/_sandbox/pay", {"gateway": gateway, "id": link.get_json()["link_id"]})
        invoices[gateway] = invoice_id
    assert wait_for(lambda: all(db.session.get(Invoice, i).status == "paid" for i in invoices.values()), 20)

    # Webhooks with bad signatures, at each gateway.
    forged = {
        "stripe": {"Stripe-Signature": "t=1700000000,v1=" + hashlib.sha256(b"forged-stripe").hexdigest()},
        "razorpay": {"X-Razorpay-Signature": hmac.new(b"guess", b"{}", hashlib.sha256).hexdigest(),
                     "X-Razorpay-Event-Id": "evt_forged"},
        "paypal": {"PayPal-Transmission-Sig": "Zm9yZ2VkLXBheXBhbC1zaWduYXR1cmUtdmFsdWUtMDAwMDAwMDAwMDAw",
                   "PayPal-Transmission-Id": "0f0e0d0c-forged", "PayPal-Transmission-Time": "2026-01-01T00:00:00Z",
                   "PayPal-Auth-Algo": "SHA256withRSA",
                   "PayPal-Cert-Url": pay_app.config["PAYPAL_API_BASE"] + "/v1/notifications/certs/CERT-forged"},
    }
    for gateway, headers in forged.items():
        body = json.dumps({"id": "evt_forged", "event": "payment_link.paid"}).encode()
        answer = requests.post(f"{live_server}/webhooks/{gateway}", data=body, timeout=10,
                               headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code in (400, 503), answer.text
        signatures |= _signature_values(headers)
    # A genuine Stripe event signed again with the real secret, sent twice: applied once, then duplicate.
    [genuine] = [d for d in control.deliveries("stripe") if d["type"] == "checkout.session.completed"]
    header = stripe.WebhookSignature.generate_signature_header(genuine["body"],
                                                               pay_app.config["STRIPE_WEBHOOK_SECRET"])
    for _ in range(2):
        requests.post(f"{live_server}/webhooks/stripe", data=genuine["body"].encode(), timeout=10,
                      headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    signatures |= _signature_values({"Stripe-Signature": header})

    # Errors: a database IntegrityError inside a request, a bad API token, a missing page.
    assert client.post("/_test/integrity-error").status_code == 500
    assert api.get("/invoices", headers={"Authorization": "Bearer not-a-real-token-0123456789"}).status_code == 401
    assert browser.get("/invoices/999999").status_code == 404

    # Everything secret the session used.
    secrets = {pay_app.config[name] for name in SECRET_SETTINGS}
    secrets |= set(sandbox.gateways["paypal"].tokens)  # PayPal OAuth access tokens handed to the portal
    for delivery in control.deliveries():
        signatures |= _signature_values(delivery["headers"])
    secrets |= signatures
    secrets |= {api.headers["Authorization"].split(" ", 1)[1], PASSWORD, WRONG_PASSWORD, *cookies.values()}
    assert all(len(s) >= 12 for s in secrets), "each secret is distinctive enough to search for"
    assert len(signatures) >= 6 and sandbox.gateways["paypal"].tokens

    captured = capfd.readouterr()
    output = "\n".join([caplog.text, captured.out, captured.err])
    assert "IntegrityError" in output and "Unhandled error" in output  # the error was logged, without secrets
    assert "post_data=" not in output  # stripe's request bodies: customer e-mails, return URLs with pay tokens
    leaked = sorted(s[:12] + "…" for s in secrets if s in output)
    assert not leaked, f"secrets in the log output: {leaked}"
