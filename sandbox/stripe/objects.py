"""Stripe objects as the API returns them. Key sets follow the canonical examples in
tests/reference/stripe/fixtures3.json (stripe/openapi), resources "checkout.session",
"payment_intent", "charge", "refund", "dispute" and "event"; values follow what a hosted-mode payment Checkout
Session looks like."""

from __future__ import annotations

from typing import Any

from ..config import STRIPE_API_VERSION


def checkout_session(*, session_id: str, created: int, expires_at: int, url: str, params: dict[str, Any],
                     currency: str, amount_total: int) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": _after_expiration(params.get("after_expiration")),
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": _automatic_tax(params.get("automatic_tax")),
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": _consent_collection(params.get("consent_collection")),
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {key: params.get("custom_text", {}).get(key) for key in
                        ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")},
        "customer": params.get("customer"),
        "customer_account": None,
        "customer_creation": params.get("customer_creation", "if_required"),
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": _invoice_creation(params.get("invoice_creation")),
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
        "payment_method_options": params.get("payment_method_options", {}),
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
        "ui_mode": params.get("ui_mode", "hosted_page"),
        "url": url,
        "wallet_options": None,
    }


def _automatic_tax(given: dict | None) -> dict[str, Any]:
    # Accepted as Stripe does; the sandbox calculates no tax, so amount_tax stays 0 and status null.
    given = given or {}
    return {"enabled": given.get("enabled", False), "liability": given.get("liability"), "provider": None,
            "status": None}


def _after_expiration(given: dict | None) -> dict[str, Any] | None:
    recovery = (given or {}).get("recovery")
    if recovery is None:
        return None
    return {"recovery": {"allow_promotion_codes": recovery.get("allow_promotion_codes", False),
                         "enabled": recovery["enabled"], "expires_at": None, "url": None}}


def _consent_collection(given: dict | None) -> dict[str, Any] | None:
    if given is None:
        return None
    return {"payment_method_reuse_agreement": given.get("payment_method_reuse_agreement"),
            "promotions": given.get("promotions"), "terms_of_service": given.get("terms_of_service")}


def _invoice_creation(given: dict | None) -> dict[str, Any]:
    data = (given or {}).get("invoice_data", {})
    return {"enabled": (given or {}).get("enabled", False),
            "invoice_data": {"account_tax_ids": data.get("account_tax_ids"), "custom_fields": data.get("custom_fields"),
                             "description": data.get("description"), "footer": data.get("footer"),
                             "issuer": data.get("issuer"), "metadata": data.get("metadata", {}),
                             "rendering_options": data.get("rendering_options")}}


def line_item(*, item_id: str, price_id: str, product_id: str, created: int, params: dict[str, Any],
              unit_amount: int) -> dict[str, Any]:
    """A Checkout line item ("item" in fixtures3.json): the amount lives in its `price` object."""
    price_data = params["price_data"]
    quantity = params["quantity"]
    adjustable = params.get("adjustable_quantity")
    return {
        "id": item_id,
        "object": "item",
        "adjustable_quantity": None if adjustable is None else {
            "enabled": adjustable["enabled"], "maximum": adjustable.get("maximum"), "minimum": adjustable.get("minimum")},
        "amount_discount": 0,
        "amount_subtotal": unit_amount * quantity,
        "amount_tax": 0,
        "amount_total": unit_amount * quantity,
        "currency": price_data["currency"],
        "description": price_data.get("product_data", {}).get("name", ""),
        "metadata": params.get("metadata", {}),
        "price": price(price_id=price_id, product_id=product_id, created=created, price_data=price_data,
                       unit_amount=unit_amount),
        "quantity": quantity,
    }


def price(*, price_id: str, product_id: str, created: int, price_data: dict[str, Any], unit_amount: int) -> dict[str, Any]:
    """The one-time Price a line item's `price_data` creates ("price" in fixtures3.json)."""
    return {
        "id": price_id,
        "object": "price",
        "active": False,  # made inline for this session, not a catalogue price
        "billing_scheme": "per_unit",
        "created": created,
        "currency": price_data["currency"],
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": price_data.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": price_data.get("unit_amount_decimal", str(unit_amount)),
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


def charge(*, charge_id: str, created: int, intent: dict[str, Any], payment_method: str | None,
           balance_transaction: str | None, failure: dict | None = None) -> dict[str, Any]:
    """The Charge a card PaymentIntent makes (its `latest_charge`). `refunds` is left out: since API version
    2022-11-15 a Charge no longer lists its refunds unless expanded
    (https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand); GET /v1/refunds lists them."""
    paid = failure is None
    amount = intent["amount"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if paid else 0,
        "amount_refunded": 0,  # pending and succeeded refunds; a failed refund gives its amount back
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": {"address": {"city": None, "country": "IN", "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": None, "name": "Sandbox Customer", "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "SANDBOX",
        "captured": paid,
        "created": created,
        "currency": intent["currency"],
        "customer": intent.get("customer"),
        "description": intent.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": (failure or {}).get("code"),
        "failure_message": (failure or {}).get("message"),
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent.get("metadata") or {}),
        "on_behalf_of": None,
        "outcome": {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                    "network_status": "approved_by_network" if paid else "declined_by_network",
                    "reason": None if paid else "generic_decline", "risk_level": "normal",
                    "seller_message": "Payment complete." if paid else "The bank did not return any further details "
                                                                       "with this decline.",
                    "type": "authorized" if paid else "issuer_declined"},
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": {"card": {
            "amount_authorized": amount if paid else None, "authorization_code": "123456" if paid else None,
            "brand": "visa", "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                        "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034, "extended_authorization": {"status": "disabled"},
            "fingerprint": "SandboxCard0001", "funding": "credit",
            "incremental_authorization": {"status": "unavailable"}, "installments": None,
            "last4": "4242" if paid else "0002", "mandate": None, "multicapture": {"status": "unavailable"},
            "network": "visa", "network_token": {"used": False}, "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated", "three_d_secure": None, "transaction_link_id": None,
            "wallet": None}, "type": "card"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,  # true once the whole amount is refunded
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(*, refund_id: str, created: int, charge: dict[str, Any], amount: int, status: str,
           reason: str | None, metadata: dict[str, str], balance_transaction: str | None) -> dict[str, Any]:
    """A card Refund (https://docs.stripe.com/api/refunds/object). status: pending, requires_action,
    succeeded, failed or canceled; a failed one has `failure_reason` and `failure_balance_transaction`."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": charge.get("customer"),
        "customer_account": None,
        "destination_details": {"card": {"reference_status": "pending" if status == "pending" else "available",
                                         "reference_type": "acquirer_reference_number", "type": "refund"},
                                "type": "card"},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge.get("payment_method"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def dispute(*, dispute_id: str, created: int, charge: dict[str, Any], amount: int, reason: str,
            due_by: int, balance_transaction: str) -> dict[str, Any]:
    """A card chargeback as Stripe opens it (https://docs.stripe.com/api/disputes/object): `needs_response`
    until evidence is given, then `under_review`, closed `won` or `lost`. Inquiries (`warning_*`) take no money;
    the sandbox opens chargebacks only."""
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [{"id": balance_transaction, "object": "balance_transaction", "amount": -amount,
                                  "currency": charge["currency"], "type": "adjustment",
                                  "reporting_category": "dispute", "created": created}],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {key: None for key in (
            "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
            "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
            "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
            "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
            "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
            "service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
            "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text")}
        | {"enhanced_evidence": {}},
        "evidence_details": {"due_by": due_by, "enhanced_eligibility": {}, "has_evidence": False, "past_due": False,
                             "submission_count": 0},
        "is_charge_refundable": False,  # a chargeback's money is already withdrawn
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                            "network_reason_code": None, "network": "visa"}, "type": "card"},
        "reason": reason,
        "status": "needs_response",
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
