"""Razorpay entities. Keys follow tests/reference/razorpay/fake_payment_link.json (payment link),
fake_payment_authorized_webhook.json (payment, event envelope) and the Orders API entity
(https://razorpay.com/docs/api/orders/entity/)."""

from __future__ import annotations

from typing import Any


def payment_link(*, link_id: str, now: int, data: dict[str, Any], short_url: str, user_id: str) -> dict[str, Any]:
    link = {
        "accept_partial": data.get("accept_partial", False),
        "amount": data["amount"],
        "amount_paid": 0,
        "cancelled_at": 0,
        "created_at": now,
        "currency": data.get("currency", "INR"),
        "customer": data.get("customer", {}),
        "description": data.get("description", ""),
        "expire_by": data.get("expire_by", 0),
        "expired_at": 0,
        "first_min_partial_amount": data.get("first_min_partial_amount", 0),
        "id": link_id,
        "notes": data.get("notes") or None,
        "notify": {"email": bool(data.get("notify", {}).get("email", False)),
                   "sms": bool(data.get("notify", {}).get("sms", False))},
        "payments": None,  # null until the first payment (create response in the Payment Links docs)
        "reference_id": data.get("reference_id", ""),
        "reminder_enable": data.get("reminder_enable", False),
        "reminders": [],
        "short_url": short_url,
        "status": "created",
        "updated_at": now,
        "upi_link": data.get("upi_link", False),
        "user_id": user_id,
    }
    if "callback_url" in data:
        link["callback_url"] = data["callback_url"]
        link["callback_method"] = data.get("callback_method", "get")
    return link


def order(*, order_id: str, link: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "id": order_id,
        "entity": "order",
        "amount": link["amount"],
        "amount_paid": 0,
        "amount_due": link["amount"],
        "currency": link["currency"],
        "receipt": link["reference_id"] or None,
        "offer_id": None,
        "status": "created",
        "attempts": 0,
        "notes": link["notes"] or [],
        "created_at": now,
    }


def payment(*, payment_id: str, link: dict[str, Any], order_id: str, amount: int, now: int) -> dict[str, Any]:
    customer = link.get("customer") or {}
    return {
        "id": payment_id,
        "entity": "payment",
        "amount": amount,
        "currency": link["currency"],
        "status": "captured",
        "order_id": order_id,
        "invoice_id": None,
        "international": link["currency"] != "INR",
        "method": "upi",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": True,
        "description": link["description"] or None,
        "card_id": None,
        "bank": None,
        "wallet": None,
        "vpa": "success@razorpay",
        "email": customer.get("email") or "void@razorpay.com",
        "contact": customer.get("contact") or "+919999999999",
        "notes": link["notes"] or [],
        "fee": amount * 2 // 100,  # 2 % platform fee, integer paise
        "tax": amount * 2 // 100 * 18 // 100,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "acquirer_data": {"rrn": None},
        "created_at": now,
    }


def declined() -> dict[str, Any]:
    """What a payment refused by the customer's bank changes (payment entity docs: status `failed`, the
    error_* fields filled, nothing captured)."""
    return {"status": "failed", "captured": False, "fee": None, "tax": None, "error_code": "BAD_REQUEST_ERROR",
            "error_description": "Payment was declined by the bank", "error_source": "bank",
            "error_step": "payment_authorization", "error_reason": "payment_declined"}


def event(*, event_type: str, account_id: str, now: int, entities: dict[str, dict]) -> dict[str, Any]:
    return {
        "entity": "event",
        "account_id": account_id,
        "event": event_type,
        "contains": list(entities),
        "payload": {name: {"entity": entity} for name, entity in entities.items()},
        "created_at": now,
    }
