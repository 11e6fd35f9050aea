"""Pure translation between our payment terms and Stripe Checkout Sessions (no I/O, no clock).

Wire facts are read from stripe-python 16.1.0 (`stripe/_api_requestor.py` `specific_v1_api_error`,
`stripe/_http_client.py` `RequestsClient._handle_request_error`) and docs.stripe.com (cited inline).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
import stripe
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from ..base import (AUTH, CONFLICT, LINK_CREATED, LINK_EXPIRED, LINK_PAID, NOT_FOUND, RATE_LIMITED, REJECTED,
                    SERVER, TIMEOUT, UNREACHABLE, Gateway, GatewayError, GatewayLink, GatewayPayment, LinkRequest)

GATEWAY = "stripe"
SESSIONS_PATH = "/v1/checkout/sessions"
# `expires_at` must be 30 min to 24 h after the session is created; default 24 h
# (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-expires_at).
MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 3600
# Margins for clock skew between us and Stripe; clamped values snap to a grid so that a retry a few
# seconds later sends byte-identical params (Stripe refuses a reused key with other params).
EXPIRY_MARGIN_S = 5 * 60
EXPIRY_GRID_S = 10 * 60
# Stripe fills this in on redirect (https://docs.stripe.com/payments/checkout/custom-success-page).
SESSION_ID_PLACEHOLDER = "session_id={CHECKOUT_SESSION_ID}"
# Sessions scanned for a reference when replay cannot answer; list's limit is at most 100
# (https://docs.stripe.com/api/pagination).
RECENT_SCAN = 100


# ---- request ---------------------------------------------------------------------------------------

def success_url(return_url: str) -> str:
    """The return URL with `session_id={CHECKOUT_SESSION_ID}` appended as a query parameter."""
    base, hash_mark, fragment = return_url.partition("#")
    joiner = "&" if urlsplit(base).query else ("" if base.endswith("?") else "?")
    return f"{base}{joiner}{SESSION_ID_PLACEHOLDER}{hash_mark}{fragment}"


def expires_at_param(expires_at: datetime, now: int) -> int | None:
    """Unix seconds for `expires_at`, kept inside Stripe's window; None = Stripe's default (24 h)."""
    wanted = int(expires_at.timestamp())
    if wanted > now + MAX_EXPIRY_S - EXPIRY_MARGIN_S:
        return None  # as late as Stripe allows: leave it out, which is also stable across retries
    earliest = now + MIN_EXPIRY_S + EXPIRY_MARGIN_S
    if wanted < earliest:
        return -(-earliest // EXPIRY_GRID_S) * EXPIRY_GRID_S  # round up onto the grid
    return wanted


def session_params(request: LinkRequest, gateway: type[Gateway], now: int) -> dict[str, Any]:
    """POST /v1/checkout/sessions params: a pure function of the request (and `now`, for the window)."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{
            "price_data": {
                "currency": request.amount.currency.lower(),  # lowercase (docs.stripe.com/currencies)
                "unit_amount": gateway.gateway_amount(request.amount),
                "product_data": {"name": f"Invoice {request.invoice_number}"},
            },
            "quantity": 1,
        }],
        "success_url": success_url(request.return_url),
        "cancel_url": request.cancel_url,
        "client_reference_id": request.reference,
        "metadata": {**request.metadata, "reference": request.reference},
    }
    if request.customer_email:
        params["customer_email"] = request.customer_email
    expires_at = expires_at_param(request.expires_at, now)
    if expires_at is not None:
        params["expires_at"] = expires_at
    return params


def request_options(request: LinkRequest) -> dict[str, str]:
    """Per-request options: the reference is the Idempotency-Key (https://docs.stripe.com/api/idempotent_requests)."""
    return {"idempotency_key": request.reference}


# ---- response --------------------------------------------------------------------------------------

def link_status(session: Mapping[str, Any]) -> str:
    """Checkout Session status -> LINK_* (https://docs.stripe.com/api/checkout/sessions/object#checkout_session_object-status).

    `complete` + `unpaid` is an async payment method (bank debit, voucher) still settling: the customer is
    done and the link cannot be paid again, but money is not confirmed. It stays `created` (pending, not
    replaceable) so nobody makes a second link; the outcome arrives as
    `checkout.session.async_payment_succeeded` / `_failed`. `complete` + `no_payment_required` (a 0 total)
    counts as `paid` with whatever Stripe collected (`amount_total`); the engine compares `amount_paid`.
    """
    status, payment = session.get("status"), session.get("payment_status")
    if status == "open":
        return LINK_CREATED
    if status == "expired":
        return LINK_EXPIRED
    if status == "complete":
        return LINK_CREATED if payment == "unpaid" else LINK_PAID
    raise ValueError(f"unknown Checkout Session status {status!r}")


def session_total(session: Mapping[str, Any]) -> tuple[int, str]:
    """(amount in Stripe units, ISO code) of what we asked for.

    Sessions created before API 2025-03-31 with Adaptive Pricing carry the integration's currency in
    `currency_conversion` and the customer's in `currency`
    (https://docs.stripe.com/changelog/basil/2025-03-31/add_presentment_details)."""
    conversion = session.get("currency_conversion")
    if conversion and conversion.get("source_currency") and conversion.get("amount_total") is not None:
        return conversion["amount_total"], conversion["source_currency"].upper()
    return session["amount_total"], session["currency"].upper()


def reference_of(session: Mapping[str, Any]) -> str | None:
    """Our reference, as `client_reference_id` or (for sessions made elsewhere) `metadata.reference`.
    Anything but a non-empty string (a malformed webhook body) counts as absent."""
    reference = session.get("client_reference_id")
    if not (isinstance(reference, str) and reference):
        metadata = session.get("metadata")
        reference = metadata.get("reference") if isinstance(metadata, Mapping) else None
    return reference if isinstance(reference, str) and reference else None


def payment_id_of(session: Mapping[str, Any]) -> str:
    """The session's PaymentIntent id (a string, or the object's `id` when expanded); the session id when
    it has none. Webhook events and fetched sessions both use this, so the ledger applies a payment once."""
    intent = session.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    return intent if isinstance(intent, str) and intent else session["id"]


def is_paid(session: Mapping[str, Any]) -> bool:
    """Money has reached us: `complete` and `paid`. `unpaid` is still settling; `no_payment_required`
    moved none (https://docs.stripe.com/api/checkout/sessions/object#checkout_session_object-payment_status)."""
    return session.get("status") == "complete" and session.get("payment_status") == "paid"


def session_payment(session: Mapping[str, Any], gateway: type[Gateway]) -> GatewayPayment:
    """The session's payment: its PaymentIntent id and what it totals, in ISO units.
    ValueError when the amount or currency is missing or not a whole number of minor units."""
    try:
        units, currency = session_total(session)
    except (KeyError, AttributeError) as exc:  # no amount_total / currency (None has no .upper())
        raise ValueError("Checkout Session has no amount_total and currency") from exc
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError(f"Checkout Session amount_total {units!r} is not a number of minor units")
    return GatewayPayment(payment_id_of(session), gateway.iso_amount(units, currency))


def attempt_declined(session: Mapping[str, Any]) -> bool:
    """An open session gets its PaymentIntent when the customer submits a payment (API 2022-08-01 on):
    one that is still open after that was refused (card declined, authentication failed)."""
    return session.get("status") == "open" and bool(session.get("payment_intent"))


def to_link(session: Mapping[str, Any], gateway: type[Gateway]) -> GatewayLink:
    units, currency = session_total(session)
    amount = gateway.iso_amount(units, currency)
    status = link_status(session)
    expires = session.get("expires_at")
    return GatewayLink(
        gateway=GATEWAY, link_id=session["id"], url=session.get("url"), status=status, amount=amount,
        amount_paid=amount if status == LINK_PAID else gateway.iso_amount(0, currency),
        reference=reference_of(session),
        expires_at=datetime.fromtimestamp(expires, timezone.utc) if expires else None,
        raw=dict(session),
        payments=(session_payment(session, gateway),) if is_paid(session) else (),
    )


# ---- errors ----------------------------------------------------------------------------------------

_NEVER_SENT = (ConnectTimeoutError, NewConnectionError, NameResolutionError,  # urllib3: no connection made
               requests.exceptions.ConnectTimeout, requests.exceptions.SSLError, ConnectionRefusedError)


def _causes(exc: BaseException, depth: int = 0):
    """The exception, what it wraps (`__cause__`, `__context__`, `.reason`, args), depth first."""
    if depth > 8:
        return
    yield exc
    inner = [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *exc.args]
    for item in inner:
        if isinstance(item, BaseException) and item is not exc:
            yield from _causes(item, depth + 1)


def connection_kind(exc: stripe.APIConnectionError) -> str:
    """UNREACHABLE only when the request surely never reached Stripe (refused, DNS, connect timeout, TLS);
    anything else (read timeout, connection dropped mid-answer) may have taken effect: TIMEOUT.
    RequestsClient raises APIConnectionError `from` the requests exception (_http_client.py)."""
    if any(isinstance(e, _NEVER_SENT) for e in _causes(exc)):
        return UNREACHABLE
    return TIMEOUT


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a `Retry-After` header (case-insensitive lookup); None when absent or not a number."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                seconds = Decimal(str(value).strip())
            except InvalidOperation:
                return None
            return float(seconds) if seconds.is_finite() and seconds >= 0 else None
    return None


def _code_of(exc: stripe.StripeError) -> str | None:
    return exc.code or (exc.error.code if exc.error is not None else None)


def _type_of(exc: stripe.StripeError) -> str | None:
    return exc.error.type if exc.error is not None else None


def gateway_error(exc: stripe.StripeError) -> GatewayError:
    """Any stripe-python exception -> GatewayError with the kind the engine acts on."""
    status, code = exc.http_status, _code_of(exc)
    message = exc.user_message or type(exc).__name__

    def err(kind: str, default_code: str, **extra) -> GatewayError:
        return GatewayError(GATEWAY, kind, code or default_code, message, status=status, **extra)

    if isinstance(exc, stripe.APIConnectionError):
        return err(connection_kind(exc), "connection_error")
    # 409: another request with this Idempotency-Key is still running (the SDK raises APIError for it);
    # lock_timeout: the object is locked by a concurrent request (https://docs.stripe.com/error-codes#lock-timeout).
    if status == 409 or code == "lock_timeout":
        return err(CONFLICT, "conflict", retry_after=retry_after(exc.headers))
    if isinstance(exc, stripe.RateLimitError):
        return err(RATE_LIMITED, "rate_limit", retry_after=retry_after(exc.headers))
    if isinstance(exc, stripe.IdempotencyError):
        return GatewayError(GATEWAY, REJECTED, "idempotency_error", message, status=status)
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        return err(AUTH, "authentication_error" if status == 401 else "permission_error")
    if isinstance(exc, (stripe.InvalidRequestError, stripe.CardError)):
        param = getattr(exc, "param", None)
        if param:
            message = f"{message} (param: {param})"
        return err(NOT_FOUND if status == 404 else REJECTED, "resource_missing" if status == 404 else "invalid_request")
    if status is not None and status >= 500:
        return err(SERVER, _type_of(exc) or "api_error")
    # An APIError with a 2xx/3xx (unreadable body) or no status at all: the call may have worked.
    return err(TIMEOUT, _type_of(exc) or "invalid_response")
