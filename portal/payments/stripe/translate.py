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

from ..base import (AUTH, CONFLICT, DISPUTE_LOST, DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, LINK_CREATED,
                    LINK_EXPIRED, LINK_PAID, NOT_FOUND, RATE_LIMITED, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED,
                    REJECTED, SERVER, TIMEOUT, UNREACHABLE, Gateway, GatewayDispute, GatewayError, GatewayLink,
                    GatewayPayment, GatewayRefund, LinkRequest, RefundRequest)

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


# ---- money back: refunds and disputes (issue 12) ----------------------------------------------------
# POST /v1/refunds (payment_intent, amount, reason, metadata), GET /v1/refunds?payment_intent=, GET /v1/refunds/{id}
# (https://docs.stripe.com/api/refunds; names as in stripe-python 16.1.0 stripe/params/_refund_create_params.py).
REFUNDS_PATH = "/v1/refunds"
REFUND_PAGE = 100  # list's largest page (https://docs.stripe.com/api/pagination)
METADATA_VALUE_MAX = 500  # characters per metadata value (https://docs.stripe.com/api/metadata)

# Refund.status: pending, requires_action, succeeded, failed, canceled (stripe/_refund.py `status`).
_REFUND_STATES = {"pending": REFUND_PENDING, "requires_action": REFUND_PENDING, "succeeded": REFUND_SUCCEEDED,
                  "failed": REFUND_FAILED, "canceled": REFUND_FAILED}
# Dispute.status (stripe/_dispute.py `status`): inquiries are `warning_*`; `warning_closed` ended with no chargeback
# and `prevented` was stopped before one, so the money stays with the merchant in both.
_DISPUTE_STATES = {
    "warning_needs_response": DISPUTE_OPEN, "needs_response": DISPUTE_OPEN, "appeal_needs_response": DISPUTE_OPEN,
    "warning_under_review": DISPUTE_UNDER_REVIEW, "under_review": DISPUTE_UNDER_REVIEW,
    "appeal_under_review": DISPUTE_UNDER_REVIEW,
    "won": DISPUTE_WON, "warning_closed": DISPUTE_WON, "prevented": DISPUTE_WON,
    "lost": DISPUTE_LOST,
}
# Refusals of POST /v1/refunds (https://docs.stripe.com/error-codes; the same codes are in stripe-python 16.1.0's
# error-code enum, stripe/_payment_intent.py `LastPaymentError.code`): nothing left to refund, or the payment
# cannot be refunded at all (charged back, never paid, unknown).
_NOTHING_LEFT = ("charge_already_refunded", "amount_too_large")
_NOT_REFUNDABLE = ("charge_disputed", "resource_missing", "charge_not_refundable", "payment_intent_unexpected_state")
# More than is left comes with no code, param `amount` and this wording, as Stripe's answers quoted in public reports
# show (https://github.com/reactioncommerce/reaction/issues/3704, https://github.com/HealthByRo/aa-stripe/pull/77
# also guesses `amount_too_large`, so that code counts too):
# "Refund amount ($X) is greater than unrefunded amount on charge ($Y)".
_OVER_REFUND_WORDS = "greater than unrefunded amount"


def refund_params(request: RefundRequest, gateway: type[Gateway]) -> dict[str, Any]:
    """POST /v1/refunds params. Stripe's `reason` is an enum (duplicate | fraudulent | requested_by_customer), so
    staff's words travel in metadata; metadata.reference is what find_refund matches."""
    metadata = {"reference": request.reference}
    if request.invoice_number:
        metadata["invoice_number"] = request.invoice_number
    if request.reason:
        metadata["reason"] = request.reason[:METADATA_VALUE_MAX]
    return {"payment_intent": request.payment_id, "amount": gateway.gateway_amount(request.amount),
            "metadata": metadata}


def refund_options(request: RefundRequest) -> dict[str, str]:
    """The reference is the Idempotency-Key: a retry answers the first refund
    (https://docs.stripe.com/api/idempotent_requests)."""
    return {"idempotency_key": request.reference}


def refund_status(status: Any) -> str:
    try:
        return _REFUND_STATES[status]
    except (KeyError, TypeError):
        raise ValueError(f"unknown Refund status {status!r}") from None


def _id_of(value: Any) -> str | None:
    """An expandable field: the id string, or the expanded object's `id`."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _units(obj: Mapping[str, Any], what: str) -> tuple[int, str]:
    amount, currency = obj.get("amount"), obj.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"{what} amount {amount!r} is not a number of minor units")
    if not (isinstance(currency, str) and currency):
        raise ValueError(f"{what} has no currency")
    return amount, currency.upper()


def to_refund(refund: Mapping[str, Any], gateway: type[Gateway]) -> GatewayRefund:
    """A Refund object -> GatewayRefund; ValueError when a field we rely on is missing or malformed.
    The payment is its PaymentIntent (what Payment.payment_id holds); a refund of a bare charge keeps the charge id."""
    if refund.get("object") != "refund" or not _id_of(refund.get("id")):
        raise ValueError("not a Stripe Refund object")
    payment_id = _id_of(refund.get("payment_intent")) or _id_of(refund.get("charge"))
    if payment_id is None:
        raise ValueError(f"Refund {refund['id']} names no payment_intent or charge")
    units, currency = _units(refund, f"Refund {refund['id']}")
    status = refund_status(refund.get("status"))
    metadata = refund.get("metadata") if isinstance(refund.get("metadata"), Mapping) else {}
    reference = metadata.get("reference")
    if status == REFUND_FAILED:
        reason = refund.get("failure_reason") or refund.get("status") or ""
    else:
        reason = metadata.get("reason") or refund.get("reason") or ""
    return GatewayRefund(
        gateway=GATEWAY, refund_id=refund["id"], payment_id=payment_id, amount=gateway.iso_amount(units, currency),
        status=status, reference=reference if isinstance(reference, str) and reference else None,
        reason=str(reason), raw=dict(refund))


def reference_of_refund(refund: Mapping[str, Any]) -> str | None:
    metadata = refund.get("metadata")
    value = metadata.get("reference") if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


def dispute_status(status: Any) -> str:
    try:
        return _DISPUTE_STATES[status]
    except (KeyError, TypeError):
        raise ValueError(f"unknown Dispute status {status!r}") from None


def to_dispute(dispute: Mapping[str, Any], gateway: type[Gateway]) -> GatewayDispute:
    """A Dispute object -> GatewayDispute (https://docs.stripe.com/api/disputes/object). `evidence_details.due_by`
    is 0 or null when the bank allows no response: no deadline then."""
    if dispute.get("object") != "dispute" or not _id_of(dispute.get("id")):
        raise ValueError("not a Stripe Dispute object")
    payment_id = _id_of(dispute.get("payment_intent")) or _id_of(dispute.get("charge"))
    if payment_id is None:
        raise ValueError(f"Dispute {dispute['id']} names no payment_intent or charge")
    units, currency = _units(dispute, f"Dispute {dispute['id']}")
    details = dispute.get("evidence_details")
    due_by = details.get("due_by") if isinstance(details, Mapping) else None
    respond_by = None
    if isinstance(due_by, int) and not isinstance(due_by, bool) and due_by > 0:
        respond_by = datetime.fromtimestamp(due_by, timezone.utc)
    reason = dispute.get("reason")
    return GatewayDispute(
        gateway=GATEWAY, dispute_id=dispute["id"], payment_id=payment_id, amount=gateway.iso_amount(units, currency),
        status=dispute_status(dispute.get("status")), reason=reason if isinstance(reason, str) else "",
        respond_by=respond_by, raw=dict(dispute))


def refund_error(exc: stripe.StripeError) -> GatewayError:
    """A refused POST /v1/refunds in our terms: `refund_exceeds_payment` (Stripe's message says what is left),
    `payment_not_refundable`; anything else as gateway_error maps it."""
    error = gateway_error(exc)
    if error.kind not in (REJECTED, NOT_FOUND) or error.code == "idempotency_error":
        return error
    code, param = _code_of(exc), getattr(exc, "param", None)
    words = exc.user_message or ""
    if code in _NOTHING_LEFT or (param == "amount" and _OVER_REFUND_WORDS in words):
        return GatewayError(GATEWAY, REJECTED, "refund_exceeds_payment", words or "nothing left to refund",
                            status=exc.http_status)
    if code in _NOT_REFUNDABLE or param in ("payment_intent", "charge"):
        return GatewayError(GATEWAY, REJECTED, "payment_not_refundable", words or "the payment cannot be refunded",
                            status=exc.http_status)
    return error
