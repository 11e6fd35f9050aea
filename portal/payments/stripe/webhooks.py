"""Stripe webhook events -> PaymentEvent. Pure: no I/O, no clock.

The client checks the signature (stripe/_webhook.py `WebhookSignature.verify_header`); this module reads
the `Stripe-Signature` timestamp for the future-side check the SDK does not make, parses the verified body
and says what the event means for us.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..base import (EVENT_DISPUTE, EVENT_EXPIRED, EVENT_FAILED, EVENT_IGNORED, EVENT_PAID, EVENT_REFUND,
                    EVENT_REFUNDS_CHANGED, Gateway, PaymentEvent, WebhookRejected)
from . import translate

GATEWAY = translate.GATEWAY
SIGNATURE_HEADER = "Stripe-Signature"  # t=<unix>,v1=<hex>[,v1=…] (https://docs.stripe.com/webhooks#verify-manually)

# Checkout Session events (https://docs.stripe.com/checkout/fulfillment, https://docs.stripe.com/api/events/types).
COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
SESSION_EVENTS = "checkout.session."
# Everything else (payment_intent.succeeded among them) is IGNORED: the session event carries the link and
# the same PaymentIntent id, so mapping both would only risk counting one payment twice.
_KINDS = {ASYNC_SUCCEEDED: EVENT_PAID, ASYNC_FAILED: EVENT_FAILED, EXPIRED: EVENT_EXPIRED}

# Money back (https://docs.stripe.com/api/events/types). data.object is a Refund for refund.created / .updated /
# .failed (every refund since https://docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update) and the older
# charge.refund.updated; a Charge for charge.refunded, which lists no refunds since
# https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand and may cover several, so it only says
# "ask for this payment's refunds"; a Dispute for charge.dispute.*.
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_EVENTS = frozenset({"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                            "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (a Flask request's headers or a plain dict)."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def signed_at(signature: str) -> int | None:
    """The header's `t`, read as the SDK reads it (first `t=`; `_get_timestamp_and_signatures`)."""
    for item in signature.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _load(raw_body: bytes | str) -> Any:
    """JSON from the raw body; ValueError (bad UTF-8 or JSON) or RecursionError (absurd nesting)."""
    text = raw_body.decode("utf-8") if isinstance(raw_body, (bytes, bytearray)) else raw_body
    return json.loads(text)


def event_id(raw_body: bytes) -> str | None:
    """The event's `id` (evt_…), read leniently before verification; None when there is none. Never raises."""
    try:
        body = _load(raw_body)
    except (ValueError, TypeError, RecursionError):
        return None
    value = body.get("id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def parse(raw_body: bytes) -> dict[str, Any]:
    """The verified body as an event dict; WebhookRejected when it is not one."""
    try:
        event = _load(raw_body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise WebhookRejected(f"body is not UTF-8 JSON: {type(exc).__name__}") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        # also what stripe.Webhook.construct_event refuses: a v2 thin event (`v2.core.event`)
        raise WebhookRejected("body is not a Stripe event object")
    return event


def to_event(event: Mapping[str, Any], gateway: type[Gateway]) -> PaymentEvent:
    """A parsed, verified event -> PaymentEvent; WebhookRejected when a field we rely on is malformed."""
    evt_id, event_type, data = event.get("id"), event.get("type"), event.get("data")
    if not (isinstance(evt_id, str) and evt_id):
        raise WebhookRejected("event has no id")
    if not (isinstance(event_type, str) and event_type):
        raise WebhookRejected(f"event {evt_id} has no type")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise WebhookRejected(f"event {evt_id} has no data.object")

    is_session = obj.get("object") == "checkout.session"
    if event_type.startswith(SESSION_EVENTS) and not is_session:
        raise WebhookRejected(f"{event_type} {evt_id} does not carry a Checkout Session")
    if is_session and not (isinstance(obj.get("id"), str) and obj["id"]):
        raise WebhookRejected(f"{event_type} {evt_id}: the session has no id")

    if event_type in REFUND_EVENTS or event_type == CHARGE_REFUNDED or event_type in DISPUTE_EVENTS:
        return _money_back(event, evt_id, event_type, obj, gateway)
    if event_type == COMPLETED:
        # `unpaid`: an async method still settling; `async_payment_succeeded` follows when it does.
        kind = EVENT_PAID if obj.get("payment_status") == "paid" else EVENT_IGNORED
    else:
        kind = _KINDS.get(event_type, EVENT_IGNORED)

    payment = None
    if kind == EVENT_PAID:
        try:
            payment = translate.session_payment(obj, gateway)
        except ValueError as exc:  # MoneyError too: an unknown currency code
            raise WebhookRejected(f"{event_type} {evt_id}: {exc}") from exc

    return PaymentEvent(
        gateway=GATEWAY, event_id=evt_id, event_type=event_type, kind=kind,
        link_id=obj["id"] if is_session else None,
        reference=translate.reference_of(obj) if is_session else None,
        payment=payment, raw=dict(event),
    )


def _money_back(event: Mapping[str, Any], evt_id: str, event_type: str, obj: Mapping[str, Any],
                gateway: type[Gateway]) -> PaymentEvent:
    """Refund, charge.refunded and dispute events -> PaymentEvent (no link: they name the payment)."""
    refund = dispute = refunds_of = None
    try:
        if event_type in REFUND_EVENTS:
            kind, refund = EVENT_REFUND, translate.to_refund(obj, gateway)
        elif event_type in DISPUTE_EVENTS:
            kind, dispute = EVENT_DISPUTE, translate.to_dispute(obj, gateway)
        else:
            if obj.get("object") != "charge":
                raise ValueError("does not carry a Charge")
            kind, refunds_of = EVENT_REFUNDS_CHANGED, _id(obj.get("payment_intent")) or _id(obj.get("id"))
            if refunds_of is None:
                raise ValueError("the Charge names no payment")
    except ValueError as exc:  # MoneyError too: an unknown currency code
        raise WebhookRejected(f"{event_type} {evt_id}: {exc}") from exc
    return PaymentEvent(
        gateway=GATEWAY, event_id=evt_id, event_type=event_type, kind=kind, link_id=None,
        reference=refund.reference if refund else None, refund=refund, dispute=dispute, refunds_of=refunds_of,
        raw=dict(event))


def _id(value: Any) -> str | None:
    """An expandable field's id (a string, or the expanded object's `id`)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None
