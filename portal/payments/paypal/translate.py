"""PayPal Orders v2 and Payments v2 refunds, pure: request bodies, order -> GatewayLink, refund -> GatewayRefund,
status mapping, failures -> GatewayError.

No I/O here: `client.py` sends what this module builds and hands back what PayPal answered.
Schemas: tests/reference/paypal/checkout_orders_v2.json (order_request, order, error_4xx/5xx) and
payments_payment_v2.json (refund_request, refund, captures.refund-422).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ProtocolError

from ..base import (AUTH, CONFLICT, LINK_CANCELLED, LINK_CREATED, LINK_EXPIRED, LINK_PAID, LINK_PARTIALLY_PAID,
                    NOT_FOUND, RATE_LIMITED, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED, REJECTED, SERVER,
                    TIMEOUT, UNREACHABLE, GatewayError, GatewayLink, GatewayPayment, GatewayRefund, LinkRequest,
                    RefundRequest)
from ...money import Money

NAME = "paypal"

# Currencies PayPal's REST APIs take (developer.paypal.com/api/rest/reference/currency-codes/, GATEWAY-FACTS).
# No INR. BRL, CNY and MYR work for in-country accounts only; the account decides, not us.
CURRENCIES = frozenset("AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP RUB SGD SEK "
                       "CHF THB USD".split())
# "This currency does not support decimals" (same page): PayPal answers DECIMALS_NOT_SUPPORTED otherwise.
NO_DECIMAL_CURRENCIES = ("HUF", "JPY", "TWD")

# An unapproved order lapses 3 hours after it is created (default; an account manager can make it 24/48/72 h):
# checkout_orders_v2.json, schema `order`, property `links`. The sandbox voids it after 3 h too.
ORDER_APPROVAL_WINDOW = timedelta(hours=3)
# Field limits from schema `purchase_unit_request` (description and custom_id <= 127, reference_id <= 256).
DESCRIPTION_MAX = 127
REFERENCE_ID_MAX = 256

# Order statuses (schema `order_status`) in our terms. APPROVED is still "created": the buyer said yes and the
# merchant must capture now (GATEWAY-FACTS: CHECKOUT.ORDER.APPROVED only means "capture it now").
_OPEN_STATUSES = frozenset({"CREATED", "SAVED", "PAYER_ACTION_REQUIRED", "APPROVED"})
# Capture statuses (schema `capture_status`) whose money reached the merchant; refunds are a separate matter.
# Each such capture is one GatewayPayment, so `payments` always sums to `amount_paid`.
MONEY_TAKEN = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
CAPTURE_FAILED = frozenset({"DECLINED", "FAILED"})
_APPROVAL_RELS = ("payer-action", "approve")  # payment_source style, then the older application_context style

UNREADABLE = "unreadable_response"


# ---- amounts ------------------------------------------------------------------------------------------------
def value_string(units: int, places: int) -> str:
    """Integer gateway units -> PayPal's decimal string in major units: (246900, 2) -> "2469.00"."""
    if places == 0:
        return str(units)
    major, minor = divmod(units, 10**places)
    return f"{major}.{minor:0{places}d}"


def paypal_amount(money: Money, gateway: Any) -> dict[str, str]:
    """{"currency_code", "value"} for `money`, or GatewayError(REJECTED) when PayPal cannot take it.

    `gateway` is the adapter class (its declared facts: currencies, exponent overrides, minimums)."""
    if money.currency not in gateway.currencies:
        raise GatewayError(NAME, REJECTED, "CURRENCY_NOT_SUPPORTED", f"PayPal does not take {money.currency}")
    reason = gateway.cannot_take(money)
    if reason:
        raise GatewayError(NAME, REJECTED, "amount_not_accepted", reason)
    units = gateway.gateway_amount(money)
    return {"currency_code": money.currency, "value": value_string(units, gateway.gateway_exponent(money.currency))}


def parse_amount(amount: Mapping[str, Any]) -> Money:
    """PayPal money object -> Money, strictly (no rounding; more decimals than ISO allows is an error)."""
    return Money.parse(str(amount["value"]), str(amount["currency_code"]))


# ---- requests -----------------------------------------------------------------------------------------------
def order_body(request: LinkRequest, gateway: Any) -> dict[str, Any]:
    """The POST /v2/checkout/orders body (schema `order_request`) for one link attempt."""
    unit: dict[str, Any] = {
        "reference_id": (request.invoice_number or "default")[:REFERENCE_ID_MAX],
        "custom_id": str(request.invoice_id),
        # Unique per attempt: PayPal refuses a reused invoice_id (DUPLICATE_INVOICE_ID, GATEWAY-FACTS).
        "invoice_id": request.reference,
        "amount": paypal_amount(request.amount, gateway),
    }
    if request.description:
        unit["description"] = request.description[:DESCRIPTION_MAX]
    experience = {"return_url": request.return_url, "cancel_url": request.cancel_url,
                  "user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING"}
    return {"intent": "CAPTURE", "purchase_units": [unit],
            "payment_source": {"paypal": {"experience_context": experience}}}


def capture_request_id(reference: str) -> str:
    """PayPal-Request-Id of the capture: never the create's own id, which PayPal would answer with the
    stored create response (idempotency keys are remembered for 6 h: parameter `paypal_request_id`)."""
    return f"{reference}-capture"


def token_from(body: Any) -> tuple[str, int]:
    """POST /v1/oauth2/token answer -> (access_token, expires_in seconds)."""
    try:
        token, expires_in = body["access_token"], body["expires_in"]
    except (KeyError, TypeError):
        raise GatewayError(NAME, SERVER, UNREADABLE, "PayPal's token answer has no access_token") from None
    if not isinstance(token, str) or not token or isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise GatewayError(NAME, SERVER, UNREADABLE, "PayPal's token answer is malformed")
    return token, expires_in


# ---- responses ----------------------------------------------------------------------------------------------
def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def approval_url(order: Mapping[str, Any]) -> str | None:
    links = {link.get("rel"): link.get("href") for link in order.get("links") or [] if isinstance(link, dict)}
    return next((links[rel] for rel in _APPROVAL_RELS if links.get(rel)), None)


def _captures(unit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(((unit.get("payments") or {}).get("captures")) or [])


def link_status(order_status: str, amount: Money, paid: Money, captures: list[Mapping[str, Any]]) -> str:
    if order_status in _OPEN_STATUSES:
        return LINK_CREATED
    if order_status == "VOIDED":
        return LINK_EXPIRED
    if order_status != "COMPLETED":
        raise GatewayError(NAME, SERVER, UNREADABLE, f"unknown PayPal order status {order_status!r}")
    if paid.minor >= amount.minor:
        return LINK_PAID
    if paid.minor > 0:
        return LINK_PARTIALLY_PAID
    if captures and all(c.get("status") in CAPTURE_FAILED for c in captures):
        return LINK_CANCELLED  # captured and declined: this order can never be paid; a new link is needed
    return LINK_CREATED  # capture PENDING (eCheck, review): money not in yet; PAYMENT.CAPTURE.COMPLETED follows


def order_to_link(order: Any, *, now: datetime, request: LinkRequest | None = None) -> GatewayLink:
    """An Orders v2 `order` (Prefer: return=representation) -> GatewayLink.

    `request` (create/find) supplies the reference and caps expires_at at the engine's own expiry.
    A body that cannot be read is GatewayError(TIMEOUT): the call may have taken effect, so look it up."""
    try:
        unit = order["purchase_units"][0]
        amount = parse_amount(unit["amount"])
        captures = _captures(unit)
        paid = Money.zero(amount.currency)
        payments = []
        for capture in captures:
            if capture.get("status") in MONEY_TAKEN:
                payment = GatewayPayment(str(capture["id"]), parse_amount(capture["amount"]))
                paid = paid + payment.amount
                payments.append(payment)
        status = link_status(order["status"], amount, paid, captures)
        link_id = str(order["id"])
    except GatewayError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise GatewayError(NAME, TIMEOUT, UNREADABLE, f"cannot read PayPal's order: {exc!r}") from None
    expires_at = None
    if status == LINK_CREATED:
        expires_at = (_time(order.get("create_time")) or now) + ORDER_APPROVAL_WINDOW
        if request is not None:
            expires_at = min(expires_at, request.expires_at)
    reference = unit.get("invoice_id") or (request.reference if request else None)
    return GatewayLink(gateway=NAME, link_id=link_id, url=approval_url(order) if status == LINK_CREATED else None,
                       status=status, amount=amount, amount_paid=paid, reference=reference,
                       expires_at=expires_at, raw=dict(order), payments=tuple(payments))


# ---- refunds (Payments v2) ----------------------------------------------------------------------------------
# Schema `refund_status`: COMPLETED | PENDING | FAILED | CANCELLED. A cancelled refund never left the merchant.
REFUND_STATUSES = {"COMPLETED": REFUND_SUCCEEDED, "PENDING": REFUND_PENDING, "FAILED": REFUND_FAILED,
                   "CANCELLED": REFUND_FAILED}
NOTE_TO_PAYER_MAX = 255  # schema refund_request.note_to_payer
# Issues of schema `captures.refund-422` that mean "more than is left" and "this capture cannot be refunded".
REFUND_EXCEEDS = frozenset({"REFUND_AMOUNT_EXCEEDED", "CAPTURE_FULLY_REFUNDED"})
NOT_REFUNDABLE = frozenset({"REFUND_NOT_ALLOWED", "REFUND_TIME_LIMIT_EXCEEDED", "PENDING_CAPTURE",
                            "TRANSACTION_DISPUTED", "REFUND_NOT_PERMITTED_DUE_TO_CHARGEBACK",
                            "PARTIAL_REFUND_NOT_ALLOWED", "MAX_NUMBER_OF_REFUNDS_EXCEEDED", "REFUND_IS_RESTRICTED",
                            "INVALID_RESOURCE_ID"})


def refund_body(request: RefundRequest, gateway: Any) -> dict[str, Any]:
    """The POST /v2/payments/captures/{id}/refund body (schema `refund_request`): always the amount, so a replay
    can never mean "all that is left now"; invoice_id = our reference, which PayPal keeps unique per refund
    (422 DUPLICATE_INVOICE_ID "Invoice ID was previously used to refund a capture")."""
    body: dict[str, Any] = {"amount": paypal_amount(request.amount, gateway), "invoice_id": request.reference}
    if request.reason.strip():
        body["note_to_payer"] = request.reason.strip()[:NOTE_TO_PAYER_MAX]
    return body


def refund_capture_id(refund: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to, from its `up` link (…/v2/payments/captures/{id})."""
    for link in refund.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "up" and isinstance(link.get("href"), str):
            head, _, capture_id = urlsplit(link["href"]).path.rpartition("/")
            if head.endswith("/v2/payments/captures") and capture_id:
                return capture_id
    return None


def read_refund(refund: Any, payment_id: str | None = None) -> GatewayRefund:
    """A Payments v2 `refund` -> GatewayRefund; ValueError / KeyError / TypeError when it cannot be read.
    The capture comes from the refund's `up` link, else `payment_id` (the capture we asked about)."""
    status = REFUND_STATUSES[refund["status"]]
    capture_id = refund_capture_id(refund) or payment_id
    if not isinstance(refund["id"], str) or not refund["id"] or not capture_id:
        raise ValueError("refund without an id or a capture")
    details = refund.get("status_details") if isinstance(refund.get("status_details"), dict) else {}
    # A failed refund's reason (status_details.reason), else the note the payer was sent.
    reason = (details.get("reason") if status == REFUND_FAILED else None) or refund.get("note_to_payer") or ""
    invoice_id = refund.get("invoice_id")
    return GatewayRefund(gateway=NAME, refund_id=refund["id"], payment_id=capture_id,
                         amount=parse_amount(refund["amount"]), status=status,
                         reference=invoice_id if isinstance(invoice_id, str) and invoice_id else None,
                         reason=str(reason), raw=dict(refund))


def refund_to_gateway(refund: Any, payment_id: str | None = None) -> GatewayRefund:
    """An answer of captures.refund / refunds.get -> GatewayRefund. Unreadable is GatewayError(TIMEOUT): the call
    may have taken effect, so look it up (find_refund replays the create under the same PayPal-Request-Id)."""
    try:
        return read_refund(refund, payment_id)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise GatewayError(NAME, TIMEOUT, UNREADABLE, f"cannot read PayPal's refund: {exc!r}") from None


def refund_refusal(error: GatewayError) -> GatewayError:
    """A refused captures.refund in our terms: more than is left -> REJECTED `refund_exceeds_payment`; a capture
    that cannot be refunded (or that PayPal does not know) -> REJECTED `payment_not_refundable`. PayPal's answer
    does not say how much is left, so the message is its own."""
    if error.code in REFUND_EXCEEDS:
        code = "refund_exceeds_payment"
    elif error.code in NOT_REFUNDABLE or error.kind == NOT_FOUND:
        code = "payment_not_refundable"
    else:
        return error
    return GatewayError(NAME, REJECTED, code, f"{error.message} [{error.code}]", status=error.status)


def json_body(text: str) -> Any:
    """A 2xx body; unreadable means the call may have taken effect (TIMEOUT: look it up first)."""
    try:
        return json.loads(text)
    except ValueError:
        raise GatewayError(NAME, TIMEOUT, UNREADABLE, "PayPal answered with a body that is not JSON") from None


# ---- failures -----------------------------------------------------------------------------------------------
def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(int(header))
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def _kind_for_status(status: int) -> str:
    if status >= 500:
        return SERVER
    return {429: RATE_LIMITED, 409: CONFLICT, 401: AUTH, 403: AUTH, 404: NOT_FOUND}.get(status, REJECTED)


def error_from_response(status: int, headers: Mapping[str, str], text: str, now: datetime) -> GatewayError:
    """An HTTP error answer -> GatewayError; `code` is PayPal's details[0].issue when it gives one.

    REST errors: {"name", "message", "debug_id", "details": [{"issue", "description"}]} (schemas error_4xx);
    OAuth errors: {"error", "error_description"}; a proxy's HTML page has neither."""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    details = body.get("details") if isinstance(body.get("details"), list) else []
    first = details[0] if details and isinstance(details[0], dict) else {}
    code = first.get("issue") or body.get("name") or body.get("error") or f"http_{status}"
    message = (first.get("description") or body.get("message") or body.get("error_description")
               or f"PayPal answered HTTP {status}")
    debug_id = body.get("debug_id") or headers.get("Paypal-Debug-Id")
    if debug_id:
        message = f"{message} (debug_id {debug_id})"
    retry_after = retry_after_seconds(headers.get("Retry-After"), now) if status == 429 else None
    return GatewayError(NAME, _kind_for_status(status), str(code), str(message), status=status,
                        retry_after=retry_after)


def _sent_then_dropped(exc: BaseException) -> bool:
    """A ConnectionError after the request went out ('Connection aborted'), as opposed to refused / DNS."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ProtocolError):
            return True
        stack.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return False


def error_from_exception(exc: requests.RequestException) -> GatewayError:
    """A `requests` failure -> GatewayError: refused or never connected is UNREACHABLE (safe elsewhere);
    sent and unanswered is TIMEOUT (it may have taken effect)."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.ConnectTimeout):
        return GatewayError(NAME, UNREACHABLE, "connect_timeout", detail)
    if isinstance(exc, requests.Timeout):
        return GatewayError(NAME, TIMEOUT, "read_timeout", detail)
    if isinstance(exc, requests.ConnectionError):
        if _sent_then_dropped(exc):
            return GatewayError(NAME, TIMEOUT, "connection_aborted", detail)
        return GatewayError(NAME, UNREACHABLE, "connection_failed", detail)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return GatewayError(NAME, TIMEOUT, "answer_lost", detail)
    return GatewayError(NAME, UNREACHABLE, "request_failed", detail)  # bad URL, bad header: never sent


def before_the_call(error: GatewayError) -> GatewayError:
    """A failure while fetching the token: the API call itself never went out, so nothing took effect."""
    if error.kind == TIMEOUT:
        return GatewayError(NAME, UNREACHABLE, f"token_{error.code}", error.message, status=error.status)
    return error
