"""Gateway webhooks: store every delivery, verify on the raw bytes, apply each event once, answer fast.

Answers: 2xx for applied events, duplicates, events about objects we do not know and genuine events that
do not match the invoice (a 4xx would make the gateway retry for days); 4xx for bad signatures and
malformed bodies; 413 for oversized bodies; 429 once a client address has sent WEBHOOK_REJECTED_LIMIT
deliveries that failed verification; 503 only when the gateway's own verification service is down (the
gateway retries). Gateway calls an event causes run as background jobs.

What is stored: the signature is checked on the raw bytes before any database work (PayPal may call out to
fetch its certificate). A verified delivery is then stored whole, claimed and applied in one transaction
(portal/webhooks/processing.py), so a worker killed before the commit leaves nothing behind and nothing
acknowledged: the gateway sends it again. A delivery that fails verification is stored with one INSERT, cut
down to what helps diagnose it (size, SHA-256, the first REJECTED_BODY_KEPT bytes, headers within
REJECTED_HEADERS_KEPT characters), so a forger can no longer fill the database; once its address has sent
WEBHOOK_REJECTED_LIMIT of them it is refused with 429 and not stored. A genuine gateway is never held back:
the count is only looked at once a delivery has failed verification.
"""
import hashlib
import json
import logging

from flask import current_app, jsonify, request

from ..errors import json_error
from ..extensions import db
from ..models import WebhookDelivery
from ..payments import ledger, registry
from ..payments.base import GatewayError, WebhookRejected
from . import bp, processing, rejections

log = logging.getLogger("portal.webhooks")

# Paths the gateways' dashboards were set up with before this portal (docs/endpoints.md).
LEGACY_PATHS = {"razorpay": "/api/mongodb/webhook/razorpay/", "stripe": "/api/webhook/stripe/",
                "paypal": "/api/webhook/paypal/"}
DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}
REJECTED_BODY_KEPT = 2048      # bytes of a delivery that failed verification kept for diagnosis
REJECTED_HEADERS_KEPT = 2048   # characters of its headers, as JSON
HEADER_VALUE_KEPT = 1024       # a PayPal transmission signature (RSA, base64) fits whole, so Reprocess can verify it


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
    try:
        event = adapter.verify_webhook(body, request.headers, adapter.settings.timeout)
    except WebhookRejected as exc:
        return _refuse(gateway, adapter, body, headers, "rejected", str(exc),
                       400, "webhook_rejected", "The webhook could not be verified.")
    except GatewayError as exc:
        return _refuse(gateway, adapter, body, headers, "unverified", f"{exc.kind} {exc.code}: {exc.message}",
                       503, "verification_unavailable", "Could not verify the webhook now; send it again.")
    delivery = WebhookDelivery(gateway=gateway, event_id=event.event_id, event_type=event.event_type, body=body,
                               body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
                               headers=json.dumps(headers), verified=True, outcome="received", detail="")
    try:
        ledger.claim_transmission(event, body)  # PayPal: one body per signed transmission id
    except WebhookRejected as exc:
        db.session.rollback()
        return _refuse(gateway, adapter, body, headers, "rejected", str(exc),
                       400, "webhook_rejected", "The webhook could not be verified.")
    outcome = processing.apply_verified(delivery, event)
    if outcome == processing.FAILED:  # stored, not applied: the gateway sends it again, or an admin reprocesses it
        return json_error(500, "webhook_not_applied", "The webhook was stored but could not be applied; send it again.")
    return jsonify({"status": outcome}), 200


def _refuse(gateway, adapter, body, headers, outcome, detail, status, code, message):
    """A delivery we will not act on: count it against its address; keep only what helps diagnose it, in one
    INSERT. Unverifiable ones (503) count too: the gateway sends those again, and a genuine delivery is
    verified before the count is looked at, so a genuine gateway is never held back by it."""
    address = rejections.client_address()
    if not rejections.admit(address):  # past the limit: nothing stored
        if status == 503:
            return json_error(status, code, message)
        response, status = json_error(429, "too_many_rejected_deliveries",
                                      "Too many deliveries from this address failed verification; try later.")
        response.headers["Retry-After"] = str(rejections.retry_after(address))
        return response, status
    # Core, not the ORM: no object to build, track or flush for a delivery nobody will act on.
    db.session.connection().execute(WebhookDelivery.__table__.insert().values(
        gateway=gateway, event_id=_safe(adapter.webhook_event_id, body, request.headers),
        body=body[:REJECTED_BODY_KEPT], body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
        body_truncated=len(body) > REJECTED_BODY_KEPT, headers=_bounded_headers(headers), verified=False,
        outcome=outcome, detail=detail[:2000]))
    db.session.commit()
    return json_error(status, code, message)


def _bounded_headers(headers: dict) -> str:
    """The headers as JSON within REJECTED_HEADERS_KEPT characters: long values cut, and headers that no
    longer fit left out (the sender chooses how many and how long)."""
    cut = {name[:HEADER_VALUE_KEPT]: value[:HEADER_VALUE_KEPT] for name, value in headers.items()}
    whole = json.dumps(cut)
    if len(whole) <= REJECTED_HEADERS_KEPT:  # the usual case: every header fits
        return whole
    kept: dict[str, str] = {}
    for name, value in headers.items():
        candidate = {**kept, name[:HEADER_VALUE_KEPT]: value[:HEADER_VALUE_KEPT]}
        if len(json.dumps(candidate)) <= REJECTED_HEADERS_KEPT:
            kept = candidate
    return json.dumps(kept)


def _safe(fn, *args):
    try:
        value = fn(*args)
    except Exception:  # the dedupe hint is best effort; verification decides
        return None
    return value if isinstance(value, str) else None  # its column stores any text (ForeignString)


for _gateway in registry.GATEWAY_CLASSES:
    bp.add_url_rule(f"/webhooks/{_gateway}", f"receive_{_gateway}", receive, methods=["POST"],
                    defaults={"gateway": _gateway})
    if _gateway in LEGACY_PATHS:
        bp.add_url_rule(LEGACY_PATHS[_gateway], f"legacy_{_gateway}", receive, methods=["POST"],
                        defaults={"gateway": _gateway})
