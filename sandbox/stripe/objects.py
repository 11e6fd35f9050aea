"""Stripe objects as the API returns them. Key sets follow the canonical examples in
tests/reference/stripe/fixtures3.json (stripe/openapi), resources "checkout.session",
"payment_intent" and "event"; values follow what a hosted-mode payment Checkout Session looks like."""

from __future__ import annotations

from typing import Any

from ..config import STRIPE_API_VERSION


def checkout_session(*, session_id: str, created: int, expires_at: int, url: str, params: dict[str, Any],
                     currency: str, amount_total: int) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": params.get("customer_creation", "if_required"),
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {"account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
                             "issuer": None, "metadata": {}, "rendering_options": None},
        },
        "livemode": False,
        "locale": params.get("locale"),
        "managed_payments": {"enabled": False},
        "metadata": params.get("metadata", {}),
        "mode": params["mode"],
        "origin_context": None,
        "payment_intent": None,  # created when the customer pays (API versions since 2022-08-01)
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": params.get("payment_method_types") or ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": bool(params.get("phone_number_collection", {}).get("enabled"))},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def line_item(item_id: str, params: dict[str, Any]) -> dict[str, Any]:
    price_data = params["price_data"]
    quantity = params["quantity"]
    unit_amount = price_data["unit_amount"]
    product = price_data.get("product_data", {})
    return {
        "id": item_id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": unit_amount * quantity,
        "amount_tax": 0,
        "amount_total": unit_amount * quantity,
        "currency": price_data["currency"],
        "description": product.get("name", ""),
        "quantity": quantity,
        "unit_amount": unit_amount,
    }


def payment_intent(*, pi_id: str, secret: str, created: int, session: dict[str, Any], status: str,
                   payment_method: str | None, latest_charge: str | None,
                   last_payment_error: dict | None = None, description: str | None = None,
                   metadata: dict | None = None) -> dict[str, Any]:
    amount = session["amount_total"]
    succeeded = status == "succeeded"
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if succeeded else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{secret}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": session["currency"],
        "customer": session.get("customer"),
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": last_payment_error,
        "latest_charge": latest_charge,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata or {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def event(*, event_id: str, created: int, event_type: str, obj: dict[str, Any], request_id: str | None = None,
          idempotency_key: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def list_object(url: str, data: list[dict], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
