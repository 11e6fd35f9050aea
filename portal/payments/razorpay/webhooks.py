"""Razorpay webhook bodies -> PaymentEvent. Pure: no I/O, no signature check (client.py verifies first).

Envelope: `{"entity": "event", "event": "payment_link.paid", "contains": [...], "created_at",
"payload": {"payment_link": {"entity": {...}}, "order": {"entity": {...}}, "payment": {"entity": {...}}}}`
(GATEWAY-FACTS, Razorpay section; tests/reference/razorpay/fake_payment_authorized_webhook.json;
https://razorpay.com/docs/webhooks/payloads/payment-links/).

Money back (issue 12): refund.created / processed / failed / speed_changed carry payload.refund.entity and
payload.payment.entity (https://razorpay.com/docs/webhooks/refunds/); payment.dispute.created / won / lost / closed /
under_review / action_required carry payload.payment.entity and payload.dispute.entity
(https://razorpay.com/docs/webhooks/disputes/).
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Mapping

from ..base import (DISPUTE_OPEN, EVENT_CANCELLED, EVENT_DISPUTE, EVENT_EXPIRED, EVENT_FAILED, EVENT_IGNORED,
                    EVENT_PAID, EVENT_PARTIALLY_PAID, EVENT_REFUND, Gateway, GatewayPayment, PaymentEvent,
                    WebhookRejected)
from . import translate

NAME = "razorpay"
SIGNATURE_HEADER = "X-Razorpay-Signature"  # hex HMAC-SHA256 of the raw body, webhook secret (GATEWAY-FACTS)
EVENT_ID_HEADER = "X-Razorpay-Event-Id"    # the same on every retry of one event: the dedupe key

# Razorpay event name -> our kind. Everything else is EVENT_IGNORED (payment.captured, order.paid, ... arrive
# for the same money as payment_link.paid: acting on them too would count it twice).
KINDS = {
    "payment_link.paid": EVENT_PAID,
    "payment_link.partially_paid": EVENT_PARTIALLY_PAID,
    "payment_link.cancelled": EVENT_CANCELLED,
    "payment_link.expired": EVENT_EXPIRED,
    "payment.failed": EVENT_FAILED,
    "refund.created": EVENT_REFUND,
    "refund.processed": EVENT_REFUND,
    "refund.failed": EVENT_REFUND,
    "refund.speed_changed": EVENT_REFUND,
    "payment.dispute.created": EVENT_DISPUTE,
    "payment.dispute.won": EVENT_DISPUTE,
    "payment.dispute.lost": EVENT_DISPUTE,
    "payment.dispute.closed": EVENT_DISPUTE,
    "payment.dispute.under_review": EVENT_DISPUTE,
    "payment.dispute.action_required": EVENT_DISPUTE,
}
MONEY_KINDS = frozenset({EVENT_PAID, EVENT_PARTIALLY_PAID})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name (a plain dict or werkzeug Headers); None when absent or empty."""
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted and value:
            return str(value)
    return None


def event_id(headers: Mapping[str, str]) -> str | None:
    return header(headers, EVENT_ID_HEADER)


def event_from(body: str, event_id: str, gateway: type[Gateway]) -> PaymentEvent:
    """A verified body (text) -> PaymentEvent. Malformed: WebhookRejected, never another exception."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookRejected(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str) or not data["event"]:
        raise WebhookRejected("body is not a Razorpay event (no `event` name)")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise WebhookRejected("body has no `payload` object")
    event_type = data["event"]
    kind = KINDS.get(event_type, EVENT_IGNORED)
    if kind == EVENT_REFUND:
        return _refund_event(data, payload, event_id, event_type, gateway)
    if kind == EVENT_DISPUTE:
        return _dispute_event(data, payload, event_id, event_type, gateway)
    link = _entity(payload, "payment_link")
    payment = None
    if kind in MONEY_KINDS:
        if link is None:
            raise WebhookRejected(f"{event_type} without a payment_link entity")
        payment = _payment(payload, link, gateway, event_type)
    link_id = _text(link.get("id")) if link else None
    reference = _text(link.get("reference_id")) if link else None
    if kind in (EVENT_CANCELLED, EVENT_EXPIRED) and link_id is None:
        raise WebhookRejected(f"{event_type} without a payment link id")
    invoice_id, failure = None, ""
    if kind == EVENT_FAILED:
        # payment.failed carries the payment alone: the notes we gave the link name our invoice.
        failed = _entity(payload, "payment") or {}
        invoice_id = _invoice_id(failed.get("notes"))
        failure = (_text(failed.get("error_description")) or "")[:200]
    return PaymentEvent(gateway=NAME, event_id=event_id, event_type=event_type, kind=kind, link_id=link_id,
                        reference=reference, payment=payment, raw=data, invoice_id=invoice_id, failure=failure)


def _refund_event(data: dict, payload: Mapping[str, Any], event_id: str, event_type: str,
                  gateway: type[Gateway]) -> PaymentEvent:
    entity = _entity(payload, "refund")
    if entity is None:
        raise WebhookRejected(f"{event_type} without a refund entity")
    try:
        refund = translate.to_refund(entity, gateway)
    except ValueError as exc:  # MoneyError (unknown currency) is a ValueError too
        raise WebhookRejected(f"{event_type}: {exc}") from None
    # The payment carries the notes we gave the link, which name our invoice.
    payment = _entity(payload, "payment") or {}
    return PaymentEvent(gateway=NAME, event_id=event_id, event_type=event_type, kind=EVENT_REFUND, link_id=None,
                        reference=refund.reference, raw=data, invoice_id=_invoice_id(payment.get("notes")),
                        refund=refund)


def _dispute_event(data: dict, payload: Mapping[str, Any], event_id: str, event_type: str,
                   gateway: type[Gateway]) -> PaymentEvent:
    entity = _entity(payload, "dispute")
    if entity is None:
        raise WebhookRejected(f"{event_type} without a dispute entity")
    try:
        dispute = translate.to_dispute(entity, gateway)
    except ValueError as exc:
        raise WebhookRejected(f"{event_type}: {exc}") from None
    if event_type == "payment.dispute.action_required":
        # "The evidence submitted is insufficient": the merchant must respond again, whatever the entity says.
        dispute = replace(dispute, status=DISPUTE_OPEN)
    payment = _entity(payload, "payment") or {}
    return PaymentEvent(gateway=NAME, event_id=event_id, event_type=event_type, kind=EVENT_DISPUTE, link_id=None,
                        raw=data, invoice_id=_invoice_id(payment.get("notes")), dispute=dispute)


def _invoice_id(notes: Any) -> int | None:
    value = notes.get("invoice_id") if isinstance(notes, dict) else None
    return int(value) if isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**31 else None


def _entity(payload: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else None


def _payment(payload: Mapping[str, Any], link: Mapping[str, Any], gateway: type[Gateway],
             event_type: str) -> GatewayPayment:
    """THIS event's payment (payload.payment.entity), in ISO minor units."""
    entity = _entity(payload, "payment")
    if entity is None:
        raise WebhookRejected(f"{event_type} without a payment entity")
    payment_id, amount = _text(entity.get("id")), entity.get("amount")
    currency = _text(entity["currency"] if "currency" in entity else link.get("currency"))
    # Integers only: bool is an int in Python, and a float would be rounded money.
    if payment_id is None or type(amount) is not int or amount <= 0 or currency is None:
        raise WebhookRejected(f"{event_type}: payment needs an id, a positive integer amount and a currency")
    try:
        money = gateway.iso_amount(amount, currency)
    except ValueError as exc:  # MoneyError (unknown currency) is a ValueError
        raise WebhookRejected(f"{event_type}: unreadable amount {amount} {currency} ({exc})") from None
    return GatewayPayment(payment_id=payment_id, amount=money)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
