"""Gateway webhooks: store every delivery, verify on the raw bytes, apply each event once, answer fast.

Answers: 2xx for applied events, duplicates, events about objects we do not know and genuine events that
do not match the invoice (a 4xx would make the gateway retry for days); 4xx for bad signatures and
malformed bodies; 413 for oversized bodies; 429 once a client address has sent WEBHOOK_REJECTED_LIMIT
deliveries that failed verification; 503 only when the gateway's own verification service is down (the
gateway retries). Gateway calls an event causes run as background jobs.

What is stored: a delivery is written whole and committed before it is verified, so a crash while
verifying (PayPal may call out for seconds) leaves it on record. If it then fails verification, the same
request cuts it down to what helps diagnose it (size, SHA-256, the first REJECTED_BODY_KEPT bytes, headers
within REJECTED_HEADERS_KEPT characters): a forger can no longer fill the database, and a verified delivery
stays whole. Past the limit the order flips: the delivery is verified first and stored (whole) only if it
verifies, else refused with 429 and not stored; a crash there loses only our copy of a delivery we never
acknowledged, which the gateway sends again.
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
    address = rejections.client_address()
    # On record before anything else; from an address past its limit, only once it verifies (see above).
    delivery = None if rejections.exhausted(address) else _store(gateway, adapter, body, headers)

    try:
        event = adapter.verify_webhook(body, request.headers, adapter.settings.timeout)
        ledger.claim_transmission(event, body)  # PayPal: one body per signed transmission id
    except WebhookRejected as exc:
        return _refuse(delivery, body, headers, address, "rejected", str(exc),
                       400, "webhook_rejected", "The webhook could not be verified.")
    except GatewayError as exc:
        return _refuse(delivery, body, headers, address, "unverified", f"{exc.kind} {exc.code}: {exc.message}",
                       503, "verification_unavailable", "Could not verify the webhook now; send it again.")
    if delivery is None:
        delivery = _store(gateway, adapter, body, headers)  # genuine, from an address past its limit

    outcome = processing.apply_verified(delivery, event)
    return jsonify({"status": outcome}), 200


def _store(gateway: str, adapter, body: bytes, headers: dict) -> WebhookDelivery:
    delivery = WebhookDelivery(gateway=gateway, event_id=_safe(adapter.webhook_event_id, body, request.headers),
                               body=body, body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
                               headers=json.dumps(headers), verified=False, outcome="received")
    db.session.add(delivery)
    db.session.commit()  # nothing a gateway sent us is lost, whatever happens next
    return delivery


def _refuse(delivery, body, headers, address, outcome, detail, status, code, message):
    """A delivery we will not act on: count it against its address; keep only what helps diagnose it.

    Unverifiable ones (503) count too: the gateway sends those again, and past the limit a delivery is
    still verified before it is refused, so a genuine gateway is never held back by the count."""
    rejections.record(address)
    if delivery is None:  # past the limit: nothing stored
        if status == 503:
            return json_error(status, code, message)
        response, status = json_error(429, "too_many_rejected_deliveries",
                                      "Too many deliveries from this address failed verification; try later.")
        response.headers["Retry-After"] = str(rejections.retry_after(address))
        return response, status
    delivery.body, delivery.body_truncated = body[:REJECTED_BODY_KEPT], len(body) > REJECTED_BODY_KEPT
    delivery.headers = _bounded_headers(headers)
    delivery.outcome, delivery.detail = outcome, detail[:2000]
    db.session.commit()
    if rejections.exhausted(address):  # this one used the address's last slot
        log.warning("%s webhook deliveries from %s keep failing verification: refusing them for a while",
                    delivery.gateway, address)
    return json_error(status, code, message)


def _bounded_headers(headers: dict) -> str:
    """The headers as JSON within REJECTED_HEADERS_KEPT characters: long values cut, and headers that no
    longer fit left out (the sender chooses how many and how long)."""
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
