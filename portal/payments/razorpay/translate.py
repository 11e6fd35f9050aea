"""Razorpay Payment Links <-> our terms. Pure: no I/O, no clock (callers pass `now`).

Field names follow tests/reference/razorpay/init_payment_link.json (create request) and
fake_payment_link.json (entity); rules from https://razorpay.com/docs/api/payments/payment-links/create-standard/.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import requests
from razorpay import errors as sdk_errors

from ..base import (AUTH, CONFLICT, LINK_CANCELLED, LINK_CREATED, LINK_EXPIRED, LINK_PAID, LINK_PARTIALLY_PAID,
                    NOT_FOUND, RATE_LIMITED, REJECTED, SERVER, TIMEOUT, UNREACHABLE, Gateway, GatewayError,
                    GatewayLink, GatewayPayment, LinkRequest)
from ...money import Money

NAME = "razorpay"

# ---- facts ------------------------------------------------------------------------------------------
# Three-decimal currencies: Razorpay wants the last digit sent as 0 (GATEWAY-FACTS, Razorpay section;
# https://razorpay.com/docs/payments/international-payments/currency-conversion/).
THREE_DECIMAL = frozenset("BHD IQD JOD KWD OMR TND".split())
# Zero-decimal currencies Razorpay takes (same sources). Their ISO exponent is 0 too: no exponent overrides.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
# INR plus the international currencies Razorpay lists for Payment Links once international payments are
# enabled on the account (https://razorpay.com/docs/payments/international-payments/#supported-currencies;
# zero/three-decimal support announced at https://razorpay.com/docs/api/best-practices/, May 2024).
CURRENCIES = frozenset(
    "INR USD EUR GBP SGD AED AUD CAD CHF CNY HKD NZD SAR SEK DKK NOK MYR THB ZAR QAR LKR NPR BDT PHP IDR EGP "
    "KES MXN BRL RUB TRY ILS PLN HUF CZK".split()) | ZERO_DECIMAL | THREE_DECIMAL
# "amount ... must be at least INR 1.00": 100 subunits, the API checks the subunit count in any currency
# (create-standard doc above; sandbox/razorpay/rules.py MIN_AMOUNT).
MIN_SUBUNITS = 100
MIN_EXPIRY_SECONDS = 15 * 60 + 60      # expire_by >= 15 min ahead (create-standard doc), plus a minute of slack
MAX_EXPIRY_SECONDS = 180 * 24 * 3600   # <= about six months ahead (GATEWAY-FACTS)
MAX_NOTES, MAX_NOTE_LENGTH = 15, 256   # notes: at most 15 pairs of 256 characters (create-standard doc)
MAX_DESCRIPTION = 2048

# A link payment that reached the merchant. Payment states are created, authorized, captured, refunded, failed
# (https://razorpay.com/docs/payments/payments/#payment-life-cycle); only `captured` counts here.
CAPTURED = "captured"

STATUSES = {"created": LINK_CREATED, "partially_paid": LINK_PARTIALLY_PAID, "paid": LINK_PAID,
            "expired": LINK_EXPIRED, "cancelled": LINK_CANCELLED}


# ---- requests ---------------------------------------------------------------------------------------
def link_params(request: LinkRequest, gateway: type[Gateway], now: int) -> dict[str, Any]:
    """Body of POST /v1/payment_links for `request`; `now` is unix seconds."""
    amount = gateway_units(request.amount, gateway)
    params: dict[str, Any] = {
        "amount": amount,
        "currency": request.amount.currency,
        "reference_id": request.reference,
        "description": request.description[:MAX_DESCRIPTION],
        "customer": {key: value for key, value in (("name", request.customer_name),
                                                   ("email", request.customer_email),
                                                   ("contact", request.customer_phone)) if value},
        "notify": {"sms": False, "email": False},  # the merchant shares the link himself
        "reminder_enable": False,
        "callback_url": request.return_url,
        "callback_method": "get",                  # the only value Razorpay accepts with callback_url
        "expire_by": expire_by(request.expires_at, now),
    }
    if request.accept_partial:
        params["accept_partial"] = True
        if request.min_partial is not None:
            first = gateway_units(request.min_partial, gateway)
            params["first_min_partial_amount"] = min(max(first, MIN_SUBUNITS), amount)
    notes = {str(k): str(v)[:MAX_NOTE_LENGTH] for k, v in list(request.metadata.items())[:MAX_NOTES]}
    if notes:
        params["notes"] = notes
    return params


def gateway_units(money: Money, gateway: type[Gateway]) -> int:
    """Money -> Razorpay subunits, refusing amounts the currency's step does not allow."""
    units = gateway.gateway_amount(money)
    step = gateway.amount_multiples.get(money.currency, 1)
    if units % step:
        raise GatewayError(NAME, REJECTED, "amount_precision",
                           f"Razorpay takes {money.currency} only in steps of {step} minor units")
    return units


def expire_by(expires_at: datetime, now: int) -> int:
    """Unix seconds, moved into the window Razorpay accepts (15 min .. 6 months ahead)."""
    wanted = int(expires_at.timestamp())
    return min(max(wanted, now + MIN_EXPIRY_SECONDS), now + MAX_EXPIRY_SECONDS)


# ---- responses --------------------------------------------------------------------------------------
def link_from(entity: Mapping[str, Any], gateway: type[Gateway]) -> GatewayLink:
    """A payment_link entity -> GatewayLink. An answer we cannot read raises TIMEOUT-kind
    `unexpected_response`: the call reached Razorpay and may have taken effect."""
    try:
        currency = entity.get("currency") or "INR"
        status = STATUSES[entity["status"]]
        expiry = int(entity.get("expire_by") or 0)
        return GatewayLink(
            gateway=NAME, link_id=entity["id"], url=entity.get("short_url") or None, status=status,
            amount=gateway.iso_amount(int(entity["amount"]), currency),
            amount_paid=gateway.iso_amount(int(entity.get("amount_paid") or 0), currency),
            reference=entity.get("reference_id") or None,
            expires_at=datetime.fromtimestamp(expiry, timezone.utc) if expiry else None,
            raw=dict(entity), payments=payments_from(entity, currency, gateway))
    except (KeyError, TypeError, ValueError) as exc:
        raise GatewayError(NAME, TIMEOUT, "unexpected_response",
                           f"unreadable payment link ({type(exc).__name__}: {exc})") from None


def payments_from(entity: Mapping[str, Any], currency: str, gateway: type[Gateway]) -> tuple[GatewayPayment, ...]:
    """The link's captured payments: `payments` is null until the first payment, then a list of
    `{payment_id, amount, status, method, created_at, ...}` (fake_payment_link.json). Raises KeyError /
    TypeError / ValueError on an entry we cannot read (link_from maps them)."""
    payments = []
    for item in entity.get("payments") or []:
        if item["status"] != CAPTURED:
            continue
        amount = item["amount"]
        if type(amount) is not int:  # never round money that arrives as a float or a string
            raise TypeError(f"payment amount {amount!r} is not an integer")
        payments.append(GatewayPayment(str(item["payment_id"]), gateway.iso_amount(amount, currency)))
    return tuple(payments)


def links_from(collection: Mapping[str, Any], gateway: type[Gateway]) -> list[GatewayLink]:
    """GET /v1/payment_links answer (payment_link_collection.json) -> links, newest first."""
    return [link_from(entity, gateway) for entity in collection.get("payment_links") or []]


# ---- errors -----------------------------------------------------------------------------------------
def error_from(exc: BaseException | None, status: int | None = None, headers: Mapping[str, str] | None = None,
               body: Any = None) -> GatewayError:
    """What went wrong, as a GatewayError.

    `exc` is the requests or SDK exception (None when only an HTTP answer is known); `status`, `headers`
    and `body` (parsed JSON, or None) are the real HTTP answer when there was one. The SDK picks its
    exception from `error.code` only (razorpay/client.py:199-206), so a 429, 401 or 404 all arrive as
    BadRequestError: the HTTP status, when known, decides."""
    if status is None:
        return _transport_error(exc)
    if status < 300:  # a success we could not read: it reached Razorpay and may have taken effect
        return GatewayError(NAME, TIMEOUT, "unexpected_response", f"HTTP {status} with an unreadable body",
                            status=status)
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code = str(error.get("code") or f"http_{status}")
    message = _message(error, status)
    if status == 429:
        return GatewayError(NAME, RATE_LIMITED, code, message, status=status,
                            retry_after=retry_after((headers or {}).get("Retry-After")))
    if status in (401, 403):
        return GatewayError(NAME, AUTH, code, message, status=status)
    if status == 404 or _names_missing_id(error):
        return GatewayError(NAME, NOT_FOUND, code, message, status=status)
    if status == 409:
        return GatewayError(NAME, CONFLICT, code, message, status=status)
    if status >= 500 or not error:
        # 5xx, or an error that is not Razorpay's JSON (a proxy's HTML page): not processed by Razorpay.
        return GatewayError(NAME, SERVER, code, message, status=status)
    if _names_duplicate_reference(error):
        return GatewayError(NAME, REJECTED, "duplicate_reference", message, status=status)
    return GatewayError(NAME, REJECTED, code, message, status=status)


def _transport_error(exc: BaseException | None) -> GatewayError:
    text = f"{type(exc).__name__}: {exc}" if exc else "no answer"
    if isinstance(exc, requests.exceptions.ConnectTimeout):        # before Timeout and ConnectionError
        return GatewayError(NAME, UNREACHABLE, "connect_timeout", text)
    if isinstance(exc, requests.exceptions.Timeout):               # ReadTimeout: sent, no answer
        return GatewayError(NAME, TIMEOUT, "read_timeout", text)
    if isinstance(exc, requests.exceptions.JSONDecodeError):       # an HTML error page from a proxy
        return GatewayError(NAME, SERVER, "invalid_response", text)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _lost_after_sending(exc):
            return GatewayError(NAME, TIMEOUT, "connection_lost", text)
        return GatewayError(NAME, UNREACHABLE, "connection_failed", text)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return GatewayError(NAME, TIMEOUT, "connection_lost", text)  # the answer broke off mid-way
    if isinstance(exc, sdk_errors.BadRequestError):
        return GatewayError(NAME, REJECTED, "BAD_REQUEST_ERROR", text)
    if isinstance(exc, (sdk_errors.GatewayError, sdk_errors.ServerError)):
        return GatewayError(NAME, SERVER, "SERVER_ERROR", text)
    # Anything else from requests (bad URL, proxy, TLS setup) fails before the request is sent.
    return GatewayError(NAME, UNREACHABLE, "request_failed", text)


def _lost_after_sending(exc: requests.exceptions.ConnectionError) -> bool:
    """`Connection aborted` (urllib3 ProtocolError): the server took the request and hung up unanswered.
    Refused / DNS failures arrive as MaxRetryError(NewConnectionError) instead."""
    from urllib3.exceptions import ProtocolError

    return any(isinstance(arg, ProtocolError) for arg in exc.args)


def _message(error: Mapping[str, Any], status: int) -> str:
    if not error:
        return f"HTTP {status} without Razorpay's error body"
    parts = [str(error.get("description") or "no description")]
    if error.get("field"):
        parts.append(f"(field {error['field']})")
    return " ".join(parts)


def _names_duplicate_reference(error: Mapping[str, Any]) -> bool:
    # reference_id is unique per link; a repeat answers 400 "... reference_id ... already exists".
    description = str(error.get("description") or "").lower()
    return (error.get("field") == "reference_id" or "reference_id" in description) and "already exist" in description


def _names_missing_id(error: Mapping[str, Any]) -> bool:
    # Razorpay answers an unknown id with 400 "The id provided does not exist" (field "id").
    return "does not exist" in str(error.get("description") or "").lower()


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta-seconds form; an HTTP date gives None)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
