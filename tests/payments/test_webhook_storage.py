"""What a webhook delivery leaves in the database: any bytes stored safely, forgeries kept small and slowed
down, genuine deliveries kept whole, old rows pruned (issue 8, items 4 and 5)."""
import hashlib
import json
from datetime import timedelta

import pytest

import stripe

from portal import jobs
from portal.extensions import db
from portal.models import Invoice, Job, PaymentMismatch, ProcessedEvent, WebhookDelivery, WebhookTransmission, utcnow
from tests.payments.test_webhooks import _captured_delivery

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
    assert stored.body == body[:2048] and stored.body_sha256 == hashlib.sha256(body).hexdigest()
    assert stored.body_size == len(body) and stored.body_truncated == (len(body) > 2048)
    assert "\x00" not in (stored.event_id or "") and len(stored.event_id or "") <= 100
    json.loads(stored.headers)  # still one readable JSON object


def test_a_signed_razorpay_delivery_with_a_hostile_event_id_header_is_applied_once(pay_app, client, make_invoice,
                                                                                   control):
    """Razorpay signs the body only: the event id header is whatever the sender puts there."""
    invoice, _, delivery = _captured_delivery(make_invoice, control)
    headers = {**delivery["headers"], "X-Razorpay-Event-Id": "evt_\x00" + "z" * 300}
    first = _post(client, "razorpay", delivery["body"].encode(), headers)
    again = _post(client, "razorpay", delivery["body"].encode(), headers)
    assert first.get_json() == {"status": "applied"} and again.get_json() == {"status": "duplicate"}
    assert db.session.get(Invoice, invoice.id).status == "paid"


# ---- item 5: forgeries are kept small and slowed down; genuine deliveries are kept whole ------------

KB = 1024


def _flood_body(i: int) -> bytes:
    head = json.dumps({"id": f"evt_flood_{i}", "type": "checkout.session.completed"}).encode()
    return head + b" " * (255 * KB - len(head))


def test_200_unsigned_255_kb_posts_store_2_kb_each_and_get_429_past_the_limit(pay_app, client):
    pay_app.config["WEBHOOK_REJECTED_LIMIT"] = "30 per minute"
    codes = []
    for i in range(200):
        gateway = GATEWAYS[i % 3]
        response = _post(client, gateway, _flood_body(i), {"X-Padding": "p" * 8000, "Stripe-Signature": "t=1,v1=0"})
        codes.append(response.status_code)
    assert codes[:30] == [400] * 30 and codes[30:] == [429] * 170
    assert response.headers.get("Retry-After", "").isdigit()
    assert response.get_json()["error"]["code"] == "too_many_rejected_deliveries"
    stored = _stored()
    assert len(stored) == 30
    for i, row in enumerate(stored):
        body = _flood_body(i)
        assert (row.outcome, row.verified, row.body_truncated) == ("rejected", False, True)
        assert row.body == body[:2048] and row.body_size == len(body)
        assert row.body_sha256 == hashlib.sha256(body).hexdigest()
        assert len(row.headers) <= 2048 and json.loads(row.headers)
    total = db.session.scalar(db.select(db.func.sum(db.func.length(WebhookDelivery.body))
                                        + db.func.sum(db.func.length(WebhookDelivery.headers))))
    assert total <= 200 * 4 * KB  # was 51 MB


def test_rejections_are_counted_per_client_address(pay_app, client):
    pay_app.config["WEBHOOK_REJECTED_LIMIT"] = "3 per minute"
    assert [_post(client, "stripe", b"{}").status_code for _ in range(4)] == [400, 400, 400, 429]
    assert _post(client, "stripe", b"{}", address="198.51.100.9").status_code == 400


def test_a_signed_delivery_from_a_limited_address_is_applied_and_kept_whole(pay_app, client, make_invoice, control):
    """The limit counts only rejections: a genuine gateway is never slowed by a forger, even one that
    shares its address (a misconfigured proxy, a shared egress)."""
    pay_app.config["WEBHOOK_REJECTED_LIMIT"] = "3 per minute"
    invoice, _, delivery = _captured_delivery(make_invoice, control, "stripe", "checkout.session.completed")
    for _ in range(4):
        _post(client, "stripe", b"{}")
    assert _post(client, "stripe", b"{}").status_code == 429
    body = delivery["body"].encode() + b" " * (40 * KB)  # whitespace after the JSON: still genuine, now big
    headers = {**delivery["headers"]}
    headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
        body.decode(), pay_app.config["STRIPE_WEBHOOK_SECRET"])
    response = _post(client, "stripe", body, headers)
    assert response.status_code == 200 and response.get_json() == {"status": "applied"}
    assert db.session.get(Invoice, invoice.id).status == "paid"
    [kept] = [row for row in _stored() if row.verified]
    assert kept.body == body and not kept.body_truncated and kept.body_size == len(body)
    assert kept.body_sha256 == hashlib.sha256(body).hexdigest() and kept.outcome == "applied"
    assert "Stripe-Signature" in json.loads(kept.headers)


def test_a_verified_delivery_is_kept_whole(pay_app, client, make_invoice, control):
    _, _, delivery = _captured_delivery(make_invoice, control)
    body = delivery["body"].encode()
    assert _post(client, "razorpay", body, delivery["headers"]).get_json() == {"status": "applied"}
    [kept] = _stored()
    assert kept.verified and kept.body == body and not kept.body_truncated and kept.body_size == len(body)



# ---- item 5: old deliveries are pruned, except what still needs someone ----------------------------

def _delivery(days_old: float, outcome: str, invoice=None, verified=True) -> int:
    row = WebhookDelivery(gateway="razorpay", event_id=f"evt_{outcome}_{days_old}", body=b"{}", body_size=2,
                          headers="{}", verified=verified, outcome=outcome, detail="",
                          invoice_id=invoice.id if invoice else None,
                          received_at=utcnow() - timedelta(days=days_old))
    db.session.add(row)
    db.session.commit()
    return row.id


def test_pruning_deletes_old_deliveries_but_keeps_unapplied_and_unresolved_mismatches(pay_app, make_invoice):
    pay_app.config["WEBHOOK_RETENTION_DAYS"] = 90
    open_case, settled_case = make_invoice(open_it=True), make_invoice(open_it=True)
    db.session.add_all([
        PaymentMismatch(gateway="razorpay", invoice_id=open_case.id, kind="amount", detail="", source="webhook"),
        PaymentMismatch(gateway="razorpay", invoice_id=settled_case.id, kind="amount", detail="", source="webhook",
                        resolved_at=utcnow()),
    ])
    done = {outcome: _delivery(91, outcome) for outcome in
            ("applied", "duplicate", "ignored", "link_closed", "queued")}
    done["rejected"] = _delivery(91, "rejected", verified=False)
    done["unverified"] = _delivery(91, "unverified", verified=False)
    done["resolved mismatch"] = _delivery(91, "mismatch", settled_case)
    kept = {"recent": _delivery(89, "applied"), "recent rejected": _delivery(1, "rejected", verified=False),
            "never finished": _delivery(200, "received", verified=False),
            "link not found": _delivery(200, "unknown_object"),
            "open mismatch": _delivery(200, "mismatch", open_case)}
    # The event applied by an old delivery is still remembered, so a replay of it stays a duplicate.
    db.session.add(ProcessedEvent(gateway="razorpay", event_id="evt_applied_91", delivery_id=done["applied"]))
    db.session.commit()

    jobs.enqueue("prune_webhook_deliveries")
    db.session.commit()
    assert jobs.run_pending() == 1
    assert db.session.scalars(db.select(Job)).one().status == "done"

    left = set(db.session.scalars(db.select(WebhookDelivery.id)))
    assert left == set(kept.values()), {name for name, i in {**done, **kept}.items() if i in left}
    remembered = db.session.get(ProcessedEvent, ("razorpay", "evt_applied_91"))
    assert remembered is not None and remembered.delivery_id is None


def test_the_retention_period_is_configurable_and_the_cli_prunes_too(pay_app, runner):
    pay_app.config["WEBHOOK_RETENTION_DAYS"] = 7
    old, young = _delivery(8, "applied"), _delivery(6, "applied")
    result = runner.invoke(args=["payments", "prune-webhooks"])
    assert result.exit_code == 0 and "Deleted 1 webhook deliveries older than 7 days" in result.output
    assert set(db.session.scalars(db.select(WebhookDelivery.id))) == {young}


def test_old_paypal_transmission_ids_are_pruned_with_the_deliveries(pay_app, runner):
    pay_app.config["WEBHOOK_RETENTION_DAYS"] = 7
    db.session.add_all([
        WebhookTransmission(gateway="paypal", transmission_id="tx-old", body_sha256="0" * 64,
                            received_at=utcnow() - timedelta(days=8)),
        WebhookTransmission(gateway="paypal", transmission_id="tx-young", body_sha256="0" * 64,
                            received_at=utcnow() - timedelta(days=6)),
    ])
    db.session.commit()
    assert runner.invoke(args=["payments", "prune-webhooks"]).exit_code == 0
    assert set(db.session.scalars(db.select(WebhookTransmission.transmission_id))) == {"tx-young"}


def test_a_delivery_paypal_cannot_verify_now_gets_503_is_trimmed_and_counted(pay_app, client, make_invoice,
                                                                            control):
    """PayPal redelivers after a 503, so only metadata is kept; it counts toward the limit, and past it
    nothing more is stored (PayPal still gets its 503 and retries)."""
    pay_app.config["WEBHOOK_REJECTED_LIMIT"] = "1 per minute"
    _, _, delivery = _captured_delivery(make_invoice, control, "paypal", "CHECKOUT.ORDER.APPROVED")
    body = delivery["body"].encode() + b" " * (10 * KB)
    control.post("/_sandbox/faults", {"gateway": "paypal", "mode": "down"})
    answers = []
    for attempt in range(2):
        # A certificate URL not fetched before, so verification has to call PayPal.
        headers = {k: v for k, v in delivery["headers"].items() if k.lower() != "paypal-cert-url"}
        headers["PAYPAL-CERT-URL"] = f"{pay_app.config['PAYPAL_API_BASE']}/v1/notifications/certs/CERT-storage-{attempt}"
        answers.append(_post(client, "paypal", body, headers).status_code)
    assert answers == [503, 503]
    [row] = _stored()
    assert (row.outcome, row.verified, row.body_truncated, row.body_size) == ("unverified", False, True, len(body))
    assert row.body == body[:2048]


def test_webhooks_are_still_received_when_the_limiter_storage_is_down(gateway_config, database_url, migrated,
                                                                      tmp_path):
    """Redis down must not cost deliveries: the count fails open (forgeries are still cut to 2 kB)."""
    from portal import create_app

    app = create_app({**{k: v for k, v in gateway_config.items() if k.startswith(("STRIPE_", "GATEWAY_"))},
                      "INSTANCE_PATH": str(tmp_path / "redis-down"), "SQLALCHEMY_DATABASE_URI": database_url,
                      "SECRET_KEY": "x", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"})
    with app.app_context():
        try:
            response = app.test_client().post("/webhooks/stripe", data=b"{}",
                                              headers={"Content-Type": "application/json"})
            assert response.status_code == 400
            assert [row.outcome for row in _stored()] == ["rejected"]
        finally:
            db.session.execute(db.delete(WebhookDelivery))
            db.session.commit()
            db.session.remove()
