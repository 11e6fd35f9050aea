"""PayPal webhooks cannot be forged from one captured delivery (issue 8, item 1).

PayPal signs `transmission_id|transmission_time|webhook_id|crc32(body)`: the signature covers only a CRC-32 of
the body, and CRC-32 is affine over GF(2), so four chosen bytes give any body the CRC of a genuine one. These
tests forge such bodies under a genuine delivery's headers and send them to the real endpoint, and check the
defences: the transmission time must be fresh, a transmission id is used for one body only, and money is
credited only as PayPal itself reports the capture (GET /v2/payments/captures/{id}).
"""
from __future__ import annotations

import json
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import Invoice, Payment, PaymentMismatch, WebhookDelivery
from portal.payments import engine
from tests.payments.test_webhook_concurrency import gunicorn  # noqa: F401 - the fixture, for the last test
from tests.payments.test_webhooks import _post, deliveries

USD = [{"description": "Consulting", "quantity": 1, "unit_price": "120.00"}]
JSON_STRING_SAFE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}  # printable, no escaping needed
PLACEHOLDER = "@@@@"


# ---- forging a CRC-32 --------------------------------------------------------------------------------------
def _four_bytes_for(prefix: bytes, suffix: bytes, target: int) -> bytes:
    """X with crc32(prefix + X + suffix) == target. The CRC is affine in X's 32 bits, so solve it over GF(2)."""
    zero = zlib.crc32(prefix + bytes(4) + suffix)
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (CRC difference, which bits of X make it)
    for bit in range(32):
        value, combo = zlib.crc32(prefix + (1 << bit).to_bytes(4, "little") + suffix) ^ zero, 1 << bit
        while value:
            top = value.bit_length() - 1
            if top not in basis:
                basis[top] = (value, combo)
                break
            value, combo = value ^ basis[top][0], combo ^ basis[top][1]
    value, combo = target ^ zero, 0
    while value:
        top = value.bit_length() - 1
        value, combo = value ^ basis[top][0], combo ^ basis[top][1]
    return combo.to_bytes(4, "little")


def forge(event: dict, genuine: bytes) -> bytes:
    """`event` encoded so its CRC-32 equals `genuine`'s: four bytes inside its `summary` string, with padding
    varied until those four are printable JSON (about one try in sixty)."""
    target = zlib.crc32(genuine)
    for padding in range(5000):
        event = {**event, "summary": "Payment completed" + " " * padding + PLACEHOLDER}
        prefix, suffix = json.dumps(event, separators=(",", ":")).encode().split(PLACEHOLDER.encode())
        chosen = _four_bytes_for(prefix, suffix, target)
        if all(byte in JSON_STRING_SAFE for byte in chosen):
            forged = prefix + chosen + suffix
            assert zlib.crc32(forged) == target and json.loads(forged)
            return forged
    raise AssertionError("no printable collision found")


def test_the_forger_works():
    genuine = b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}'
    forged = forge({"id": "WH-2", "event_type": "PAYMENT.CAPTURE.COMPLETED"}, genuine)
    assert forged != genuine and zlib.crc32(forged) == zlib.crc32(genuine)


# ---- fixtures: two invoices, one genuine delivery ---------------------------------------------------------
def _invoice_and_link(make_invoice):
    invoice = make_invoice(currency="USD", items=USD, open_it=True)
    return invoice, engine.generate_link(invoice, requested="paypal").link


def _delivery(control, event_type: str, order_id: str) -> dict:
    for _ in range(100):
        for item in deliveries(control, "paypal", event_type):
            body = json.loads(item["body"])
            order = body["resource"].get("supplementary_data", {}).get("related_ids", {}).get("order_id")
            if item["headers"] and order_id in (order, body["resource"]["id"]):
                return item
        time.sleep(0.05)
    raise AssertionError(f"no {event_type} delivery for {order_id}")


@pytest.fixture
def captured(pay_app, make_invoice, control):
    """Invoice A paid at PayPal (approved and captured there), its deliveries captured on the way (sent to a
    closed port, so the portal has not seen them); invoice B open and unpaid, with a PayPal link of its own."""
    control.post("/_sandbox/webhooks", {"gateway": "paypal", "url": "http://127.0.0.1:9/x"})
    invoice_a, link_a = _invoice_and_link(make_invoice)
    invoice_b, link_b = _invoice_and_link(make_invoice)
    control.post("/_sandbox/pay", {"gateway": "paypal", "id": link_a.link_id, "capture": True})
    completed = _delivery(control, "PAYMENT.CAPTURE.COMPLETED", link_a.link_id)
    approved = _delivery(control, "CHECKOUT.ORDER.APPROVED", link_a.link_id)
    return {"a": (invoice_a, link_a), "b": (invoice_b, link_b), "completed": completed, "approved": approved}


def _send(client, item_or_body, headers=None):
    if isinstance(item_or_body, dict):
        item_or_body, headers = item_or_body["body"].encode(), item_or_body["headers"]
    return _post(client, "paypal", item_or_body, headers)


def _paid_minor(invoice) -> int:
    return db.session.get(Invoice, invoice.id).amount_paid_minor


def _payments(invoice) -> list[Payment]:
    return db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)).all()


def _untouched(invoice) -> bool:
    fresh = db.session.get(Invoice, invoice.id)
    return fresh.status == "open" and fresh.amount_paid_minor == 0 and not _payments(invoice)


def _stored(body: bytes) -> WebhookDelivery:
    return db.session.scalars(db.select(WebhookDelivery).where(WebhookDelivery.body == body)
                              .order_by(WebhookDelivery.id.desc())).first()


def _capture_event(genuine: dict, **resource) -> dict:
    event = json.loads(genuine["body"])
    return {**event, "id": f"WH-FORGED{uuid.uuid4().hex[:8].upper()}-{uuid.uuid4().hex[:12].upper()}",
            "resource": {**event["resource"], **resource}}


def _aimed_at(invoice, link) -> dict:
    """A capture resource that claims to be invoice B's money."""
    return {"invoice_id": link.reference, "custom_id": str(invoice.id),
            "amount": {"currency_code": "USD", "value": "120.00"},
            "supplementary_data": {"related_ids": {"order_id": link.link_id}}}


# ---- the attack ------------------------------------------------------------------------------------------
def test_a_forged_body_with_the_genuine_crc_under_genuine_headers_changes_nothing(client, captured):
    (invoice_a, _), (invoice_b, link_b) = captured["a"], captured["b"]
    genuine = captured["completed"]
    assert _send(client, genuine).get_json() == {"status": "applied"}
    assert _paid_minor(invoice_a) == 12000

    invented = _capture_event(genuine, id="9FORGED0CAPTURE01", **_aimed_at(invoice_b, link_b))
    forged = forge(invented, genuine["body"].encode())
    response = _send(client, forged, genuine["headers"])

    assert 400 <= response.status_code < 500, response.get_json()
    assert _untouched(invoice_b)
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 1  # only A's genuine capture
    stored = _stored(forged)
    assert stored.outcome == "rejected" and not stored.verified and stored.body == forged


def test_a_transmission_id_is_used_for_one_body_only(client, captured):
    """Even naming a capture PayPal does know (A's), another body under A's transmission is refused; the same
    bytes again are a redelivery, answered as a duplicate."""
    (invoice_a, _), (invoice_b, link_b) = captured["a"], captured["b"]
    genuine = captured["completed"]
    assert _send(client, genuine).get_json() == {"status": "applied"}
    forged = forge(_capture_event(genuine, **_aimed_at(invoice_b, link_b)), genuine["body"].encode())

    response = _send(client, forged, genuine["headers"])
    assert response.status_code == 400
    stored = _stored(forged)
    assert stored.outcome == "rejected" and "transmission" in stored.detail
    assert _send(client, genuine).get_json() == {"status": "duplicate"}
    assert _untouched(invoice_b) and len(_payments(invoice_a)) == 1 and _paid_minor(invoice_a) == 12000


# ---- freshness ---------------------------------------------------------------------------------------------
def _signed(sandbox, pay_app, body: bytes, when: datetime, transmission_id: str | None = None) -> dict:
    """Headers signed with the sandbox's key, as PayPal signs them, at a chosen transmission time."""
    paypal = sandbox.gateways["paypal"]
    transmission_id = transmission_id or str(uuid.uuid4())
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = paypal.signer.sign(transmission_id, stamp, pay_app.config["PAYPAL_WEBHOOK_ID"], body)
    return {"PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": stamp,
            "PAYPAL-TRANSMISSION-SIG": signature, "PAYPAL-CERT-URL": paypal.cert_url,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA"}


# Ten seconds past the 300 s tolerance, so a busy machine cannot bring a stamp back inside it.
@pytest.mark.parametrize("offset", [-310, 310, -86400])
def test_stale_and_future_transmission_times_are_refused(client, captured, sandbox, pay_app, offset):
    invoice_a, _ = captured["a"]
    body = captured["completed"]["body"].encode()
    headers = _signed(sandbox, pay_app, body, datetime.now(timezone.utc) + timedelta(seconds=offset))
    response = _send(client, body, headers)
    assert response.status_code == 400
    assert _untouched(invoice_a)
    stored = _stored(body)
    assert stored.outcome == "rejected" and "transmission time" in stored.detail


def test_a_fresh_transmission_time_is_accepted(client, captured, sandbox, pay_app):
    invoice_a, _ = captured["a"]
    body = captured["completed"]["body"].encode()
    headers = _signed(sandbox, pay_app, body, datetime.now(timezone.utc) - timedelta(seconds=30))
    assert _send(client, body, headers).get_json() == {"status": "applied"}
    assert _paid_minor(invoice_a) == 12000


def test_the_tolerance_is_configurable(client, captured, sandbox, pay_app):
    invoice_a, _ = captured["a"]
    pay_app.config["PAYPAL_WEBHOOK_TOLERANCE_SECONDS"] = 30
    body = captured["completed"]["body"].encode()
    headers = _signed(sandbox, pay_app, body, datetime.now(timezone.utc) - timedelta(seconds=120))
    assert _send(client, body, headers).status_code == 400
    assert _untouched(invoice_a)


# ---- PayPal decides what is credited -------------------------------------------------------------------------
def test_the_amount_currency_and_invoice_come_from_paypal_not_the_body(client, captured, sandbox, pay_app):
    """A correctly signed event (the sandbox's key) that names A's real capture but claims 1.00 EUR for
    invoice B: PayPal says that capture is 120.00 USD on A's order, so A is paid in full and B untouched."""
    (invoice_a, _), (invoice_b, link_b) = captured["a"], captured["b"]
    claims = {**_aimed_at(invoice_b, link_b), "amount": {"currency_code": "EUR", "value": "1.00"}}
    body = json.dumps(_capture_event(captured["completed"], **claims)).encode()
    response = _send(client, body, _signed(sandbox, pay_app, body, datetime.now(timezone.utc)))
    assert response.get_json() == {"status": "applied"}
    invoice = db.session.get(Invoice, invoice_a.id)
    assert invoice.status == "paid" and invoice.amount_paid_minor == 12000
    [payment] = _payments(invoice_a)
    assert (payment.currency, payment.amount_minor) == ("USD", 12000)
    assert _untouched(invoice_b) and db.session.scalar(db.select(db.func.count(PaymentMismatch.id))) == 0


def test_a_capture_paypal_does_not_know_is_refused(client, captured, sandbox, pay_app):
    (invoice_b, link_b) = captured["b"]
    body = json.dumps(_capture_event(captured["completed"], id="7NOSUCH0CAPTURE99",
                                     **_aimed_at(invoice_b, link_b))).encode()
    response = _send(client, body, _signed(sandbox, pay_app, body, datetime.now(timezone.utc)))
    assert response.status_code == 400
    assert _untouched(invoice_b) and _stored(body).outcome == "rejected"


def test_paypal_unreachable_during_the_lookup_is_503_and_the_redelivery_applies(client, captured, control):
    invoice_a, _ = captured["a"]
    # The approval verifies first, so the signing certificate is at hand: only the capture lookup fails below.
    assert _send(client, captured["approved"]).get_json() == {"status": "queued"}
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    genuine = captured["completed"]
    response = _send(client, genuine)
    assert response.status_code == 503
    assert _untouched(invoice_a)
    kept = _stored(genuine["body"].encode())
    assert kept.outcome == "unverified" and kept.body == genuine["body"].encode() and not kept.verified

    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "ok"})
    assert _send(client, genuine).get_json() == {"status": "applied"}  # PayPal sends it again
    assert _paid_minor(invoice_a) == 12000 and len(_payments(invoice_a)) == 1


def test_paypal_naming_another_invoice_than_our_link_is_a_mismatch(pay_app, make_invoice):
    """PayPal's custom_id is our invoice id; if PayPal's record and our link disagree, staff look first."""
    from portal.money import Money
    from portal.payments import ledger
    from portal.payments.base import EVENT_PAID, GatewayPayment, PaymentEvent

    invoice, link = _invoice_and_link(make_invoice)
    event = PaymentEvent(gateway="paypal", event_id="WH-X", event_type="PAYMENT.CAPTURE.COMPLETED", kind=EVENT_PAID,
                         link_id=link.link_id, reference=link.reference, invoice_id=invoice.id + 1000,
                         payment=GatewayPayment("3CAPTURE00000001X", Money(12000, "USD")))
    outcome, invoice_id, _ = ledger.apply_event(event)
    db.session.commit()
    assert (outcome, invoice_id) == (ledger.MISMATCH, invoice.id) and _untouched(invoice)
    assert db.session.scalars(db.select(PaymentMismatch)).one().kind == "invoice"


def test_concurrent_bodies_under_one_transmission_id_on_two_workers(gunicorn, captured):
    """Copies of the genuine delivery and forged bodies under its headers, all at once on two gunicorn
    workers sharing the database: one body wins the transmission id, the other bodies are refused, and the
    capture is credited once, as PayPal reports it."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    (invoice_a, _), (invoice_b, link_b) = captured["a"], captured["b"]
    genuine = captured["completed"]
    bodies = [genuine["body"].encode()] * 4 + [
        forge(_capture_event(genuine, **_aimed_at(invoice_b, link_b)), genuine["body"].encode()) for _ in range(4)]
    headers = {**genuine["headers"], "Content-Type": "application/json"}

    def send(body):
        return body, requests.post(f"{gunicorn}/webhooks/paypal", data=body, headers=headers, timeout=20)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(send, bodies))
    accepted = [(body, a.json()["status"]) for body, a in answers if a.status_code == 200]
    assert all(a.status_code in (200, 400) for _, a in answers), [a.text[:200] for _, a in answers]
    assert len({body for body, _ in accepted}) == 1  # one body per transmission id
    assert sorted(status for _, status in accepted)[0] == "applied"
    assert [status for _, status in accepted].count("applied") == 1
    db.session.expire_all()
    assert len(_payments(invoice_a)) == 1 and _paid_minor(invoice_a) == 12000 and _untouched(invoice_b)
    assert db.session.scalar(db.select(db.func.count(WebhookDelivery.id))) == len(bodies)  # every one kept
