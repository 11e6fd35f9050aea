"""Field rules of POST /v1/payment_links and PATCH /v1/payment_links/{id}
(https://razorpay.com/docs/api/payments/payment-links/create-standard/ and .../update/). Errors use
Razorpay's envelope (https://razorpay.com/docs/errors/):
`{"error": {"code", "description", "field", "source", "step", "reason", "metadata"}}`, the keys of
tests/reference/razorpay/bad_request_error.json plus the ones the live API adds."""

from __future__ import annotations

import re
from typing import Any

from ..gateway import GatewayError

ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                "XOF", "XPF"}
THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "OMR", "TND"}
# INR plus the common international currencies (https://razorpay.com/docs/payments/international-payments/#supported-currencies).
SUPPORTED = {"INR", "USD", "EUR", "GBP", "SGD", "AED", "AUD", "CAD", "CHF", "CNY", "HKD", "NZD", "SAR", "SEK", "DKK",
             "NOK", "MYR", "THB", "ZAR", "QAR", "LKR", "NPR", "BDT", "PHP", "IDR", "EGP", "KES", "MXN", "BRL",
             "RUB", "TRY", "ILS", "PLN", "HUF", "CZK"} | ZERO_DECIMAL | THREE_DECIMAL

MIN_AMOUNT = 100  # "amount ... must be at least INR 1.00" (100 paise)
MIN_EXPIRY_S = 15 * 60  # expire_by at least 15 minutes after now
MAX_EXPIRY_S = 183 * 24 * 3600  # and at most about six months

CREATE_FIELDS = {"amount", "currency", "accept_partial", "first_min_partial_amount", "reference_id", "description",
                 "customer", "notify", "reminder_enable", "notes", "callback_url", "callback_method", "expire_by",
                 "upi_link", "options"}
EDIT_FIELDS = {"reference_id", "expire_by", "notes", "accept_partial", "reminder_enable"}


def bad_request(description: str, field: str | None = None, status: int = 400) -> GatewayError:
    return GatewayError(status, {"error": {"code": "BAD_REQUEST_ERROR", "description": description, "field": field,
                                           "source": "business", "step": "payment_initiation",
                                           "reason": "input_validation_failed", "metadata": {}}})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_extra(data: dict, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise bad_request(f"{key} is/are not required and should not be sent", key)


def _check_notes(notes: Any) -> None:
    if notes in (None, [], {}):
        return
    if not isinstance(notes, dict):
        raise bad_request("The notes must be an array.", "notes")
    if len(notes) > 15:
        raise bad_request("Number of fields in notes should be less than or equal to 15", "notes")
    for key, value in notes.items():
        if not isinstance(value, (str, int, float)) or len(str(value)) > 256:
            raise bad_request(f"The notes.{key} may not be greater than 256 characters.", f"notes.{key}")


def _check_expire_by(expire_by: Any, now: int) -> None:
    if not _is_int(expire_by):
        raise bad_request("The expire by must be an integer.", "expire_by")
    if expire_by < now + MIN_EXPIRY_S:
        raise bad_request("expire_by should be at least 15 minutes after current time", "expire_by")
    if expire_by > now + MAX_EXPIRY_S:
        raise bad_request("expire_by should not be greater than 6 months from current time", "expire_by")


def _check_reference_id(reference_id: Any) -> None:
    if not isinstance(reference_id, str):
        raise bad_request("The reference id must be a string.", "reference_id")
    if len(reference_id) > 40:
        raise bad_request("The reference id may not be greater than 40 characters.", "reference_id")


def check_create(data: Any, now: int) -> dict:
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object", None)
    _check_extra(data, CREATE_FIELDS)
    if "amount" not in data:
        raise bad_request("The amount field is required.", "amount")
    amount = data["amount"]
    if not _is_int(amount):
        raise bad_request("The amount must be an integer.", "amount")
    if amount < MIN_AMOUNT:
        raise bad_request("The amount must be atleast INR 1.00", "amount")
    currency = data.get("currency", "INR")
    if not isinstance(currency, str) or currency not in SUPPORTED:
        raise bad_request("The currency is invalid.", "currency")
    if currency in THREE_DECIMAL and amount % 10:
        raise bad_request("The last digit of the amount must be 0 for three decimal currencies.", "amount")
    accept_partial = data.get("accept_partial", False)
    if not isinstance(accept_partial, bool):
        raise bad_request("The accept partial field must be true or false.", "accept_partial")
    if "first_min_partial_amount" in data:
        first_min = data["first_min_partial_amount"]
        if not accept_partial:
            raise bad_request("first_min_partial_amount is/are not required and should not be sent",
                              "first_min_partial_amount")
        if not _is_int(first_min) or first_min < MIN_AMOUNT:
            raise bad_request("The first min partial amount must be atleast INR 1.00", "first_min_partial_amount")
        if first_min > amount:
            raise bad_request("first_min_partial_amount should be less than or equal to amount",
                              "first_min_partial_amount")
    if "reference_id" in data:
        _check_reference_id(data["reference_id"])
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 2048:
        raise bad_request("The description may not be greater than 2048 characters.", "description")
    customer = data.get("customer", {})
    if not isinstance(customer, dict):
        raise bad_request("The customer must be an array.", "customer")
    _check_extra(customer, {"name", "email", "contact"})
    email = customer.get("email")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
        raise bad_request("The customer.email must be a valid email address.", "customer.email")
    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        raise bad_request("The notify must be an array.", "notify")
    _check_extra(notify, {"sms", "email", "whatsapp"})
    _check_notes(data.get("notes"))
    if "callback_url" in data:
        if not isinstance(data["callback_url"], str) or not re.match(r"https?://", data["callback_url"]):
            raise bad_request("The callback url format is invalid.", "callback_url")
        # "If callback_url parameter is passed, callback_method must be passed with the value get."
        if data.get("callback_method") != "get":
            raise bad_request("callback_method should be get", "callback_method")
    elif "callback_method" in data and data["callback_method"] != "get":
        raise bad_request("callback_method should be get", "callback_method")
    if "expire_by" in data:
        _check_expire_by(data["expire_by"], now)
    return data


def check_edit(data: Any, link: dict, now: int) -> dict:
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object", None)
    _check_extra(data, EDIT_FIELDS)
    if link["status"] not in ("created", "partially_paid"):
        raise bad_request(f"Update is not allowed for payment link in {link['status']} state", None)
    if "reference_id" in data:
        _check_reference_id(data["reference_id"])
    if "expire_by" in data:
        _check_expire_by(data["expire_by"], now)
    if "accept_partial" in data and not isinstance(data["accept_partial"], bool):
        raise bad_request("The accept partial field must be true or false.", "accept_partial")
    _check_notes(data.get("notes"))
    return data
