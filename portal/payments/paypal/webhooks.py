"""PayPal webhooks, pure: the signed message, its freshness, which certificate URLs may be fetched, the postback
body, event JSON -> PaymentEvent, and that event rebuilt from PayPal's own answer about the capture. No I/O here:
`client.py` fetches the certificate, calls the postback and asks PayPal for the capture.

The signature covers only a CRC-32 of the body, and CRC-32 can be forced with four chosen bytes: a captured
delivery's headers fit any body with the same CRC. So the body is never trusted for money: a capture event is
credited as GET /v2/payments/captures/{id} reports it (`confirmed_event`), a refund or dispute event is read as
GET /v2/payments/refunds/{id} or /v1/customer/disputes/{id} reports it, the transmission time must be fresh
(`check_transmission_time`), and each transmission id is good for one body (ledger.claim_transmission).

Facts: https://developer.paypal.com/api/rest/webhooks/rest/ (headers; the message is
`transmission_id|transmission_time|webhook_id|crc32(raw body)`, CRC-32 as an unsigned decimal, signed
SHA256withRSA = PKCS#1 v1.5 over SHA-256), GATEWAY-FACTS (PayPal section), and the `event` and
`verify_webhook_signature` schemas in tests/reference/paypal/notifications_webhooks_v1.json.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..base import (DISPUTE_LOST, DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, EVENT_APPROVED, EVENT_DISPUTE,
                    EVENT_FAILED, EVENT_IGNORED, EVENT_PAID, EVENT_REFUND, SERVER, GatewayDispute, GatewayError,
                    GatewayPayment, PaymentEvent, WebhookRejected)
from ...money import Money, MoneyError
from .translate import CAPTURE_FAILED, MONEY_TAKEN, read_refund

NAME = "paypal"
AUTH_ALGO = "SHA256withRSA"  # the only algorithm PayPal signs with (PAYPAL-AUTH-ALGO)
# Header names (case-insensitive on the wire).
TRANSMISSION_ID = "PAYPAL-TRANSMISSION-ID"
TRANSMISSION_TIME = "PAYPAL-TRANSMISSION-TIME"
TRANSMISSION_SIG = "PAYPAL-TRANSMISSION-SIG"
CERT_URL = "PAYPAL-CERT-URL"
AUTH_ALGO_HEADER = "PAYPAL-AUTH-ALGO"
_REQUIRED = (TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL, AUTH_ALGO_HEADER)
CERT_MAX_BYTES = 64 * 1024  # a PEM certificate chain is a few KB
EVENT_ID_MAX = 255  # PayPal's are "WH-" and about 36 more; a longer `id` is no dedupe key of PayPal's
# Schema verify_webhook_signature: transmission_id maxLength 50 (PayPal's are UUIDs); we store up to 100.
TRANSMISSION_ID_MAX = 100
TOLERANCE_SECONDS = 300  # default of PAYPAL_WEBHOOK_TOLERANCE_SECONDS, either way, as Stripe's default
_INVOICE_ID = re.compile(r"[0-9]{1,18}")  # our custom_id: the invoice's id (translate.order_body)

# Event types we act on (developer.paypal.com/api/rest/webhooks/event-names/).
CAPTURE_COMPLETED = "PAYMENT.CAPTURE.COMPLETED"
CAPTURE_DENIED = "PAYMENT.CAPTURE.DENIED"
ORDER_APPROVED = "CHECKOUT.ORDER.APPROVED"
ORDER_COMPLETED = "CHECKOUT.ORDER.COMPLETED"
# Payments v2 money back: "a merchant refunds a payment capture" / "PayPal reverses a payment capture"; both carry a
# `refund` resource (resource_type "refund"; PayPal's REVERSED sample as quoted in zencart's paypalr module). No
# PAYMENT.REFUND.* event exists for Payments v2 (event-names page above): a pending refund's end is fetched.
CAPTURE_REFUNDED = "PAYMENT.CAPTURE.REFUNDED"
CAPTURE_REVERSED = "PAYMENT.CAPTURE.REVERSED"
REFUND_EVENTS = (CAPTURE_REFUNDED, CAPTURE_REVERSED)
# https://developer.paypal.com/docs/disputes/webhooks: the resource is the dispute (customer-disputes v1).
DISPUTE_EVENTS = ("CUSTOMER.DISPUTE.CREATED", "CUSTOMER.DISPUTE.UPDATED", "CUSTOMER.DISPUTE.RESOLVED")
# Dispute `status` (customer-disputes v1) in our terms; RESOLVED is decided by dispute_outcome.outcome_code.
_DISPUTE_STATUSES = {"OPEN": DISPUTE_OPEN, "WAITING_FOR_SELLER_RESPONSE": DISPUTE_OPEN,
                     "WAITING_FOR_BUYER_RESPONSE": DISPUTE_UNDER_REVIEW, "UNDER_REVIEW": DISPUTE_UNDER_REVIEW,
                     "OTHER": DISPUTE_UNDER_REVIEW}
# Schema dispute_outcome.outcome_code: who keeps the money. RESOLVED_WITH_PAYOUT and NONE do not say whether the
# merchant paid, so they stay under review for a person to read (never a guess that moves money).
_OUTCOMES = {"RESOLVED_SELLER_FAVOUR": DISPUTE_WON, "CANCELED_BY_BUYER": DISPUTE_WON, "DENIED": DISPUTE_WON,
             "RESOLVED_BUYER_FAVOUR": DISPUTE_LOST, "ACCEPTED": DISPUTE_LOST}


@dataclass(frozen=True)
class Transmission:
    """The signature headers of one delivery."""

    transmission_id: str
    transmission_time: str
    signature: str  # base64
    cert_url: str
    auth_algo: str


# ---- the signature ------------------------------------------------------------------------------------------
def crc32_decimal(body: bytes) -> str:
    """CRC-32 of the raw body as an UNSIGNED decimal (zlib.crc32 is unsigned on Python 3; mask to be sure)."""
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    """What PayPal signs; `webhook_id` is OUR webhook's id (PAYPAL_WEBHOOK_ID), never one from the event."""
    return "|".join((transmission_id, transmission_time, webhook_id, crc32_decimal(body))).encode()


def transmission_from(headers: Mapping[str, str]) -> Transmission:
    """The five signature headers, looked up case-insensitively; WebhookRejected when any is missing or
    the algorithm is not SHA256withRSA."""
    found = {str(k).upper(): v for k, v in headers.items()}
    missing = [name for name in _REQUIRED if not isinstance(found.get(name), str) or not found[name].strip()]
    if missing:
        raise WebhookRejected(f"missing header(s) {', '.join(missing)}")
    t = Transmission(found[TRANSMISSION_ID].strip(), found[TRANSMISSION_TIME].strip(),
                     found[TRANSMISSION_SIG].strip(), found[CERT_URL].strip(), found[AUTH_ALGO_HEADER].strip())
    if t.auth_algo != AUTH_ALGO:
        raise WebhookRejected(f"unsupported PAYPAL-AUTH-ALGO {t.auth_algo[:40]!r}")
    if len(t.transmission_id) > TRANSMISSION_ID_MAX:
        raise WebhookRejected("PAYPAL-TRANSMISSION-ID is longer than PayPal's")
    return t


def check_transmission_time(transmission: Transmission, now: datetime, tolerance: int) -> None:
    """Refuse a transmission stamped more than `tolerance` seconds before or after `now` (the stamp is signed):
    a captured delivery cannot be replayed later, nor one stamped ahead be kept for later. The sandbox signs each
    attempt afresh, as we take PayPal to; a payment whose every attempt came too late is still found by
    reconciliation."""
    text = transmission.transmission_time
    try:
        moment = datetime.fromisoformat(text)  # RFC 3339, e.g. 2026-11-27T12:00:00Z
    except ValueError:
        raise WebhookRejected(f"PAYPAL-TRANSMISSION-TIME {text[:40]!r} is not a date-time") from None
    if moment.tzinfo is None:
        raise WebhookRejected(f"PAYPAL-TRANSMISSION-TIME {text[:40]!r} has no time zone")
    drift = abs((now - moment).total_seconds())
    if drift > tolerance:
        raise WebhookRejected(f"transmission time {text[:40]!r} is {int(drift)} s from now, more than {tolerance} s")


def _origin(url: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of an http(s) URL without user info; None for anything else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.netloc.lower()


def cert_url_allowed(cert_url: str, prefixes: tuple[str, ...], api_base: str) -> bool:
    """Whether the certificate may be fetched: it starts with an allowed prefix (PAYPAL_CERT_URL_PREFIXES),
    or lies on the API base's own origin (the host the operator configured). Compared as parsed origins plus
    a path prefix, so `https://api.paypal.com.evil.example/` or `https://api.paypal.com@evil.example/` fail."""
    if any(ch.isspace() or ch == "\\" or ord(ch) < 32 for ch in cert_url):
        return False
    origin = _origin(cert_url)
    if origin is None:
        return False
    path = urlsplit(cert_url).path or "/"
    allowed = [(_origin(prefix), urlsplit(prefix).path or "/") for prefix in prefixes]
    if api_base:
        allowed.append((_origin(api_base), "/"))
    return any(o is not None and o == origin and path.startswith(p) for o, p in allowed)


def load_certificate(pem: bytes) -> x509.Certificate:
    """The first certificate of a PEM file; WebhookRejected when it is not one."""
    try:
        certificate = x509.load_pem_x509_certificates(pem)[0]
    except (ValueError, IndexError, TypeError):
        raise WebhookRejected("the PAYPAL-CERT-URL document is not a PEM certificate") from None
    return certificate


def check_signature(certificate: x509.Certificate, transmission: Transmission, webhook_id: str, body: bytes,
                    now: datetime) -> None:
    """Verify offline: the certificate is valid now and its RSA key signed the message; else WebhookRejected."""
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookRejected("the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejected("the signing certificate has no RSA key")
    try:
        signature = base64.b64decode(transmission.signature, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("PAYPAL-TRANSMISSION-SIG is not base64") from None
    message = signed_message(transmission.transmission_id, transmission.transmission_time, webhook_id, body)
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WebhookRejected("signature does not match") from None


def postback_body(transmission: Transmission, webhook_id: str, raw_body: bytes) -> bytes:
    """POST /v1/notifications/verify-webhook-signature body (schema `verify_webhook_signature`), with the
    delivered body spliced in byte for byte as `webhook_event`: re-encoded JSON changes the CRC and fails
    (GATEWAY-FACTS). The caller has checked `raw_body` is one JSON object (`event_json`)."""
    fields = {"auth_algo": transmission.auth_algo, "cert_url": transmission.cert_url,
              "transmission_id": transmission.transmission_id, "transmission_sig": transmission.signature,
              "transmission_time": transmission.transmission_time, "webhook_id": webhook_id}
    head = json.dumps(fields, separators=(",", ":"))
    return head[:-1].encode() + b',"webhook_event":' + raw_body + b"}"


def postback_verified(answer: Any) -> bool:
    """The postback's answer (schema `verify_webhook_signature_response`): only SUCCESS is a yes."""
    return isinstance(answer, dict) and answer.get("verification_status") == "SUCCESS"


# ---- events -------------------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def event_json(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object, strictly (UTF-8, no NaN/Infinity); WebhookRejected otherwise."""
    try:
        data = json.loads(raw_body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("body is not a JSON object")
    return data


def event_id(raw_body: bytes) -> str | None:
    """The body's `id` (WH-…), read leniently before verification; None when there is none."""
    try:
        data = json.loads(raw_body)
    except (ValueError, TypeError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= EVENT_ID_MAX else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _amount(amount: Any) -> Money:
    """A PayPal `money` object, strictly: string value, no rounding (Money.parse)."""
    if not isinstance(amount, dict) or not isinstance(amount.get("value"), str) \
            or not isinstance(amount.get("currency_code"), str):
        raise WebhookRejected("capture amount is missing or malformed")
    try:
        return Money.parse(amount["value"], amount["currency_code"])
    except MoneyError as exc:
        raise WebhookRejected(f"capture amount is malformed: {exc}") from None


def _capture_order_id(resource: Mapping[str, Any]) -> str | None:
    """The order a capture belongs to: resource.supplementary_data.related_ids.order_id (payments v2,
    schema `related_ids`)."""
    supplementary = resource.get("supplementary_data")
    related = supplementary.get("related_ids") if isinstance(supplementary, dict) else None
    return _text(related.get("order_id")) if isinstance(related, dict) else None


def _up_order_id(capture: Mapping[str, Any]) -> str | None:
    """The order of a capture from its `up` link (…/v2/checkout/orders/{id}), when supplementary_data is absent."""
    for link in capture.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "up" and isinstance(link.get("href"), str):
            head, _, order_id = urlsplit(link["href"]).path.rpartition("/")
            if head.endswith("/v2/checkout/orders") and order_id:
                return order_id
    return None


def _order_reference(order: Mapping[str, Any]) -> str | None:
    units = order.get("purchase_units")
    unit = units[0] if isinstance(units, list) and units and isinstance(units[0], dict) else {}
    return _text(unit.get("invoice_id"))  # our reference (translate.order_body)


def parse_event(raw_body: bytes) -> PaymentEvent:
    """A verified delivery -> PaymentEvent; WebhookRejected when it is malformed."""
    data = event_json(raw_body)
    wh_id, event_type, resource = data.get("id"), data.get("event_type"), data.get("resource")
    if not _text(wh_id) or len(wh_id) > EVENT_ID_MAX or not _text(event_type):
        raise WebhookRejected("event has no usable id or event_type")
    if not isinstance(resource, dict):
        raise WebhookRejected("event has no resource object")

    def event(kind: str, link_id: str | None, reference: str | None = None,
              payment: GatewayPayment | None = None) -> PaymentEvent:
        return PaymentEvent(gateway=NAME, event_id=wh_id, event_type=event_type, kind=kind, link_id=link_id,
                            reference=reference, payment=payment, raw=data)

    if event_type in (CAPTURE_COMPLETED, CAPTURE_DENIED):
        capture_id, order_id = _text(resource.get("id")), _capture_order_id(resource)
        if not capture_id or not order_id:
            raise WebhookRejected("capture event without a capture id or related order id")
        reference = _text(resource.get("invoice_id"))
        if event_type == CAPTURE_DENIED:
            return event(EVENT_FAILED, order_id, reference)
        return event(EVENT_PAID, order_id, reference, GatewayPayment(capture_id, _amount(resource.get("amount"))))
    if event_type == ORDER_APPROVED:
        order_id = _text(resource.get("id"))
        if not order_id:
            raise WebhookRejected("order event without an order id")
        return event(EVENT_APPROVED, order_id, _order_reference(resource))
    if event_type in REFUND_EVENTS:
        refund = _refund(resource)
        return replace(event(EVENT_REFUND, None, refund.reference), refund=refund)
    if event_type in DISPUTE_EVENTS:
        return replace(event(EVENT_DISPUTE, None), dispute=_dispute(resource))
    # CHECKOUT.ORDER.COMPLETED repeats what PAYMENT.CAPTURE.COMPLETED says, per capture; anything else
    # (PENDING, DECLINED, ...) is stored but not acted on.
    link_id = _text(resource.get("id")) if event_type.startswith("CHECKOUT.ORDER.") else None
    return event(EVENT_IGNORED, link_id, _order_reference(resource) if link_id else None)


def _refund(resource: Mapping[str, Any]) -> Any:
    """A refund resource -> GatewayRefund; its capture must be named by its `up` link."""
    try:
        refund = read_refund(resource)
    except (KeyError, IndexError, TypeError, ValueError, MoneyError) as exc:
        raise WebhookRejected(f"refund resource is malformed: {exc!r}"[:200]) from None
    return refund


def _dispute(resource: Mapping[str, Any]) -> GatewayDispute:
    """A dispute resource -> GatewayDispute: the disputed capture is disputed_transactions[0].seller_transaction_id
    (our Payment.payment_id); a RESOLVED dispute's side comes from dispute_outcome.outcome_code."""
    dispute_id, status = _text(resource.get("dispute_id")), _text(resource.get("status"))
    transactions = resource.get("disputed_transactions")
    first = transactions[0] if isinstance(transactions, list) and transactions and isinstance(transactions[0], dict) \
        else {}
    capture_id = _text(first.get("seller_transaction_id"))
    if not dispute_id or not capture_id or not status:
        raise WebhookRejected("dispute without a dispute_id, status or disputed seller_transaction_id")
    if status == "RESOLVED":
        outcome = resource.get("dispute_outcome")
        code = outcome.get("outcome_code") if isinstance(outcome, dict) else None
        ours = _OUTCOMES.get(code, DISPUTE_UNDER_REVIEW)
    elif status in _DISPUTE_STATUSES:
        ours = _DISPUTE_STATUSES[status]
    else:
        raise WebhookRejected(f"unknown dispute status {status[:40]!r}")
    try:
        amount = Money.parse(resource["dispute_amount"]["value"], resource["dispute_amount"]["currency_code"])
    except (KeyError, TypeError, MoneyError) as exc:
        raise WebhookRejected(f"dispute amount is missing or malformed: {exc!r}"[:200]) from None
    due = resource.get("seller_response_due_date")
    try:
        respond_by = datetime.fromisoformat(due) if isinstance(due, str) else None
    except ValueError:
        raise WebhookRejected(f"seller_response_due_date {due[:40]!r} is not a date-time") from None
    if respond_by is not None and respond_by.tzinfo is None:
        raise WebhookRejected("seller_response_due_date has no time zone")
    reason = resource.get("reason")
    return GatewayDispute(gateway=NAME, dispute_id=dispute_id, payment_id=capture_id, amount=amount, status=ours,
                          reason=reason if isinstance(reason, str) else "", respond_by=respond_by, raw=dict(resource))


# ---- what PayPal itself says ------------------------------------------------------------------------------------
def capture_to_confirm(event: PaymentEvent) -> str | None:
    """The capture to ask PayPal about before `event` may credit money; None when it credits nothing."""
    return event.payment.payment_id if event.kind == EVENT_PAID and event.payment is not None else None


def confirmed_event(event: PaymentEvent, capture: Any) -> PaymentEvent:
    """`event` as PayPal's answer about its capture (GET /v2/payments/captures/{id}, schema `capture-2`) tells
    it: status, amount, currency, order (our link), invoice_id (our reference) and custom_id (our invoice) all
    come from PayPal; of the delivered body only the event id and type remain. A capture PayPal still reports
    as PENDING is GatewayError: answer 503, and PayPal's next attempt asks again."""
    if not isinstance(capture, dict) or capture.get("id") != capture_to_confirm(event):
        raise WebhookRejected("PayPal's answer is not about this event's capture")
    order_id = _capture_order_id(capture) or _up_order_id(capture)
    if not order_id:
        raise WebhookRejected("PayPal's capture names no order")
    custom_id = capture.get("custom_id")
    known = {"link_id": order_id, "reference": _text(capture.get("invoice_id")),
             "invoice_id": int(custom_id) if isinstance(custom_id, str) and _INVOICE_ID.fullmatch(custom_id) else None}
    status = capture.get("status") if isinstance(capture.get("status"), str) else None
    if status in MONEY_TAKEN:
        return replace(event, kind=EVENT_PAID, payment=GatewayPayment(capture["id"], _amount(capture.get("amount"))),
                       **known)
    if status in CAPTURE_FAILED:
        return replace(event, kind=EVENT_FAILED, payment=None, **known)
    raise GatewayError(NAME, SERVER, "capture_not_completed",
                       f"PayPal reports capture {capture['id']} as {str(status)[:20]!r}, not completed yet")


def refund_to_confirm(event: PaymentEvent) -> str | None:
    """The refund to ask PayPal about (GET /v2/payments/refunds/{id}) before `event` may record money back; the
    body's CRC-only signature makes it no more trustworthy than a capture's."""
    return event.refund.refund_id if event.kind == EVENT_REFUND and event.refund is not None else None


def confirmed_refund_event(event: PaymentEvent, answer: Any) -> PaymentEvent:
    """`event` with the refund exactly as PayPal's refunds.get answer reports it (status, amount, capture,
    invoice_id = our reference); of the delivered body only the event id and type remain."""
    if not isinstance(answer, dict) or answer.get("id") != refund_to_confirm(event):
        raise WebhookRejected("PayPal's answer is not about this event's refund")
    refund = _refund(answer)
    return replace(event, refund=refund, reference=refund.reference)


def dispute_to_confirm(event: PaymentEvent) -> str | None:
    """The dispute to ask PayPal about (GET /v1/customer/disputes/{id}, customer-disputes v1 `disputes.get`)
    before `event` may record a chargeback: a lost dispute is money back, as good as a refund."""
    return event.dispute.dispute_id if event.kind == EVENT_DISPUTE and event.dispute is not None else None


def confirmed_dispute_event(event: PaymentEvent, answer: Any) -> PaymentEvent:
    """`event` with the dispute exactly as PayPal's disputes.get answer reports it."""
    if not isinstance(answer, dict) or answer.get("dispute_id") != dispute_to_confirm(event):
        raise WebhookRejected("PayPal's answer is not about this event's dispute")
    return replace(event, dispute=_dispute(answer))
