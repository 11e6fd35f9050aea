"""Gateway webhooks: store every delivery, verify on the raw bytes, apply each event once, answer fast.

Answers: 2xx for applied events, duplicates, events about objects we do not know and genuine events that
do not match the invoice (a 4xx would make the gateway retry for days); 4xx for bad signatures and
malformed bodies; 413 for oversized bodies; 503 only when the gateway's own verification service is down
(the delivery is kept and the gateway retries). Gateway calls an event causes run as background jobs.
"""
import json

from flask import current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from ..errors import json_error
from ..extensions import db
from ..models import ProcessedEvent, WebhookDelivery
from ..payments import ledger, registry
from ..payments.base import GatewayError, WebhookRejected
from . import bp

# Paths the gateways' dashboards were set up with before this portal (CONTRACT section 5).
LEGACY_PATHS = {"razorpay": "/api/mongodb/webhook/razorpay/", "stripe": "/api/webhook/stripe/",
                "paypal": "/api/webhook/paypal/"}
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def _read_body():
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def receive(gateway: str):
    if gateway not in registry.GATEWAY_CLASSES:
        return json_error(404, "unknown_gateway", f"No gateway called {gateway!r}.")
    adapter = registry.get_gateway(gateway, current_app.config)
    if adapter is None:
        return json_error(404, "gateway_not_configured", f"{gateway} is not configured here.")
    body = _read_body()
    if body is None:
        return json_error(413, "payload_too_large", "The webhook body is larger than this endpoint accepts.")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_HEADERS}
    delivery = WebhookDelivery(gateway=gateway, event_id=_safe(adapter.webhook_event_id, body, request.headers),
                               body=body, headers=json.dumps(headers), verified=False, outcome="received")
    db.session.add(delivery)
    db.session.commit()  # nothing a gateway sent us is lost, whatever happens next

    try:
        event = adapter.verify_webhook(body, request.headers, adapter.settings.timeout)
        ledger.claim_transmission(event, body)  # PayPal: one body per signed transmission id
    except WebhookRejected as exc:
        delivery.outcome, delivery.detail = "rejected", str(exc)[:2000]
        db.session.commit()
        return json_error(400, "webhook_rejected", "The webhook could not be verified.")
    except GatewayError as exc:
        delivery.outcome, delivery.detail = "unverified", f"{exc.kind} {exc.code}: {exc.message}"[:2000]
        db.session.commit()
        return json_error(503, "verification_unavailable", "Could not verify the webhook now; send it again.")

    delivery.verified, delivery.event_id, delivery.event_type = True, event.event_id, event.event_type
    try:
        with db.session.begin_nested():
            db.session.add(ProcessedEvent(gateway=gateway, event_id=event.event_id, delivery_id=delivery.id))
    except IntegrityError:
        delivery.outcome, delivery.detail = "duplicate", "already processed"
        db.session.commit()
        return jsonify({"status": "duplicate"}), 200
    outcome, invoice_id, detail = ledger.apply_event(event, source="webhook")
    delivery.outcome, delivery.detail, delivery.invoice_id = outcome, detail[:2000], invoice_id
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent delivery of the same event committed first (PostgreSQL, another worker).
        db.session.rollback()
        delivery = db.session.get(WebhookDelivery, delivery.id)
        delivery.verified, delivery.outcome, delivery.detail = True, "duplicate", "processed concurrently"
        db.session.commit()
        return jsonify({"status": "duplicate"}), 200
    return jsonify({"status": outcome}), 200


def _safe(fn, *args):
    try:
        value = fn(*args)
    except Exception:  # the dedupe hint is best effort; verification decides
        return None
    return value[:100] if isinstance(value, str) else None


for _gateway in registry.GATEWAY_CLASSES:
    bp.add_url_rule(f"/webhooks/{_gateway}", f"receive_{_gateway}", receive, methods=["POST"],
                    defaults={"gateway": _gateway})
    if _gateway in LEGACY_PATHS:
        bp.add_url_rule(LEGACY_PATHS[_gateway], f"legacy_{_gateway}", receive, methods=["POST"],
                        defaults={"gateway": _gateway})
