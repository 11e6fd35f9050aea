"""What a webhook delivery leaves in the database: any bytes stored safely, forgeries kept small and slowed
down, genuine deliveries kept whole, old rows pruned (issue 8, items 4 and 5)."""
import hashlib
import hmac
import json

import pytest

from portal.extensions import db
from portal.models import Invoice, WebhookDelivery

GATEWAYS = ["razorpay", "stripe", "paypal"]


def _post(client, gateway, body: bytes, headers: dict | None = None, address="203.0.113.7"):
    return client.post(f"/webhooks/{gateway}", data=body, environ_base={"REMOTE_ADDR": address},
                       headers={"Content-Type": "application/json", **(headers or {})})


def _stored():
    return db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


# ---- item 4: hostile bytes in an unsigned delivery -------------------------------------------------

HOSTILE = {
    "nul_in_body_id": (b'{"id": "evt_\\u0000x", "type": "checkout.session.completed"}', {}),
    "lone_surrogate_id": (b'{"id": "evt_\\ud800x", "type": "checkout.session.completed"}', {}),
    "nul_in_event_id_header": (b'{"event": "payment_link.paid"}', {"X-Razorpay-Event-Id": "evt_\x00x"}),
    "nul_in_a_header": (b'{"id": "evt_1"}', {"X-Forwarded-Note": "a\x00b", "Stripe-Signature": "t=1,v1=\x00"}),
    "latin1_header": (b'{"id": "evt_1"}', {"X-Note": "caf\xe9 \xff"}),
    "bad_utf8_body": (b'{"id": "evt_\xff\xfe\x80", "event": "\xc3("}', {}),
    "long_id": (json.dumps({"id": "evt_" + "x" * 5000}).encode(), {"X-Razorpay-Event-Id": "e" * 5000}),
    "nul_bytes_body": (b"\x00" * 64, {}),
}


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bytes_in_an_unsigned_delivery_get_a_400_and_are_stored(pay_app, client, gateway, case):
    body, headers = HOSTILE[case]
    response = _post(client, gateway, body, headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "webhook_rejected"
    [stored] = _stored()
    assert stored.gateway == gateway and stored.outcome == "rejected" and not stored.verified
    assert stored.body == body
    assert "\x00" not in (stored.event_id or "") and len(stored.event_id or "") <= 100
    json.loads(stored.headers)  # still one readable JSON object


def test_a_signed_razorpay_delivery_with_a_hostile_event_id_header_is_applied_once(pay_app, client, make_invoice,
                                                                                   control):
    """Razorpay signs the body only: the event id header is whatever the sender puts there."""
    from tests.payments.test_webhooks import _captured_delivery

    invoice, _, delivery = _captured_delivery(make_invoice, control)
    headers = {**delivery["headers"], "X-Razorpay-Event-Id": "evt_\x00" + "z" * 300}
    first = _post(client, "razorpay", delivery["body"].encode(), headers)
    again = _post(client, "razorpay", delivery["body"].encode(), headers)
    assert first.get_json() == {"status": "applied"} and again.get_json() == {"status": "duplicate"}
    assert db.session.get(Invoice, invoice.id).status == "paid"
