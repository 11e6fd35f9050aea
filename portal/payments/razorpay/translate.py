"""Razorpay Payment Links <-> our terms. Pure: no I/O, no clock (callers pass `now`).

Field names follow tests/reference/razorpay/init_payment_link.json (create request) and
fake_payment_link.json (entity); rules from https://razorpay.com/docs/api/payments/payment-links/create-standard/.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import requests
from razorpay import errors as sdk_errors

from ..base import (AUTH, CONFLICT, DISPUTE_LOST, DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, LINK_CANCELLED,
                    LINK_CREATED, LINK_EXPIRED, LINK_PAID, LINK_PARTIALLY_PAID, NOT_FOUND, RATE_LIMITED, REFUND_FAILED,
                    REFUND_PENDING, REFUND_SUCCEEDED, REJECTED, SERVER, TIMEOUT, UNREACHABLE, Gateway, GatewayDispute,
                    GatewayError, GatewayLink, GatewayPayment, GatewayRefund, LinkRequest, RefundRequest)
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


# ---- money back: refunds and disputes (issue 12) ----------------------------------------------------
# POST /v1/payments/{id}/refund (amount, speed, notes, receipt), GET /v1/payments/{id}/refunds (count, skip),
# GET /v1/refunds/{id} (https://razorpay.com/docs/api/refunds/; razorpay-python 2.0.1 client.payment.refund,
# client.payment.fetch_multiple_refund, client.refund.fetch). Razorpay keeps no idempotency key for us: `receipt`
# carries our reference and find_refund matches it among the payment's refunds.
REFUND_PAGE = 100  # collections answer at most 100 items (https://razorpay.com/docs/api/pagination/)
MAX_RECEIPT = 40   # receipt: our reference, <= 40 characters as every Razorpay receipt
# Refund status: pending, processed, failed (https://razorpay.com/docs/api/refunds/entity/).
_REFUND_STATES = {"pending": REFUND_PENDING, "processed": REFUND_SUCCEEDED, "failed": REFUND_FAILED}
# Dispute status (https://razorpay.com/docs/api/disputes/entity/): `closed` ends a fraud or retrieval phase
# dispute in the merchant's favour (nothing deducted), so the money stays: won for us.
_DISPUTE_STATES = {"open": DISPUTE_OPEN, "under_review": DISPUTE_UNDER_REVIEW, "won": DISPUTE_WON,
                   "lost": DISPUTE_LOST, "closed": DISPUTE_WON}
# Refusals of POST /v1/payments/{id}/refund, as Razorpay words them (create-normal doc, Errors; Razorpay's public
# error descriptions): more than is left, nothing left, and payments that cannot be refunded at all.
_OVER_REFUND_WORDS = ("greater than amount captured", "greater than the unrefunded amount",
                      "has been fully refunded already")
_NOT_REFUNDABLE_WORDS = ("status should be captured", "does not exist", "is not a valid id",
                         "blocked due to ongoing dispute", "refund is currently not supported",
                         "only instant refund is supported", "not supported by the bank")


def refund_params(request: RefundRequest, gateway: type[Gateway]) -> dict[str, Any]:
    """Body of POST /v1/payments/{id}/refund. Normal speed (no instant-refund fee); staff's words and our
    reference travel in notes too, so the Dashboard shows them."""
    notes = {"reference": request.reference}
    if request.invoice_number:
        notes["invoice_number"] = request.invoice_number[:MAX_NOTE_LENGTH]
    if request.reason:
        notes["reason"] = request.reason[:MAX_NOTE_LENGTH]
    return {"amount": gateway_units(request.amount, gateway), "speed": "normal",
            "receipt": request.reference[:MAX_RECEIPT], "notes": notes}


def _units(entity: Mapping[str, Any], what: str) -> tuple[int, str]:
    amount, currency = entity.get("amount"), entity.get("currency")
    if type(amount) is not int or amount < 0:  # never round money that arrives as a float or a string
        raise ValueError(f"{what} amount {amount!r} is not a number of subunits")
    if not (isinstance(currency, str) and currency):
        raise ValueError(f"{what} has no currency")
    return amount, currency.upper()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _notes(entity: Mapping[str, Any]) -> Mapping[str, Any]:
    notes = entity.get("notes")
    return notes if isinstance(notes, Mapping) else {}  # Razorpay sends [] for no notes


def to_refund(entity: Mapping[str, Any], gateway: type[Gateway]) -> GatewayRefund:
    """A refund entity -> GatewayRefund; ValueError when a field we rely on is missing or malformed."""
    if entity.get("entity") != "refund" or not _text(entity.get("id")):
        raise ValueError("not a Razorpay refund entity")
    payment_id = _text(entity.get("payment_id"))
    if payment_id is None:
        raise ValueError(f"refund {entity['id']} names no payment_id")
    units, currency = _units(entity, f"refund {entity['id']}")
    try:
        status = _REFUND_STATES[entity.get("status")]
    except (KeyError, TypeError):
        raise ValueError(f"unknown refund status {entity.get('status')!r}") from None
    notes = _notes(entity)
    reason = "failed" if status == REFUND_FAILED else notes.get("reason") or notes.get("comment") or ""
    return GatewayRefund(gateway=NAME, refund_id=entity["id"], payment_id=payment_id,
                         amount=gateway.iso_amount(units, currency), status=status,
                         reference=_text(entity.get("receipt")), reason=str(reason), raw=dict(entity))


def refund_entities(collection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GET /v1/payments/{id}/refunds answer `{"entity": "collection", "count", "items"}` -> its items."""
    items = collection.get("items") if isinstance(collection, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("not a Razorpay collection of refunds")
    return items


def to_dispute(entity: Mapping[str, Any], gateway: type[Gateway]) -> GatewayDispute:
    """A dispute entity -> GatewayDispute (https://razorpay.com/docs/api/disputes/entity/). `respond_by` is unix
    seconds; 0 or null means no deadline."""
    if entity.get("entity") != "dispute" or not _text(entity.get("id")):
        raise ValueError("not a Razorpay dispute entity")
    payment_id = _text(entity.get("payment_id"))
    if payment_id is None:
        raise ValueError(f"dispute {entity['id']} names no payment_id")
    units, currency = _units(entity, f"dispute {entity['id']}")
    try:
        status = _DISPUTE_STATES[entity.get("status")]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dispute status {entity.get('status')!r}") from None
    respond_by = entity.get("respond_by")
    deadline = None
    if type(respond_by) is int and respond_by > 0:
        deadline = datetime.fromtimestamp(respond_by, timezone.utc)
    reason = _text(entity.get("reason_description")) or _text(entity.get("reason_code")) or ""
    return GatewayDispute(gateway=NAME, dispute_id=entity["id"], payment_id=payment_id,
                          amount=gateway.iso_amount(units, currency), status=status, reason=reason,
                          respond_by=deadline, raw=dict(entity))


def refund_error(error: GatewayError) -> GatewayError:
    """A refused refund in our terms: `refund_exceeds_payment` (Razorpay does not say how much is left, so its own
    words are kept), `payment_not_refundable`; any other failure unchanged."""
    if error.kind not in (REJECTED, NOT_FOUND) or (error.status or 400) >= 500:
        return error
    words = error.message.lower()
    if any(phrase in words for phrase in _OVER_REFUND_WORDS):
        return GatewayError(NAME, REJECTED, "refund_exceeds_payment", error.message, status=error.status)
    if any(phrase in words for phrase in _NOT_REFUNDABLE_WORDS):
        return GatewayError(NAME, REJECTED, "payment_not_refundable", error.message, status=error.status)
    return error
