"""The Razorpay adapter: thin I/O over the official `razorpay` SDK (2.0.1); translation lives in translate.py."""
from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

import razorpay
import requests
from razorpay import errors as sdk_errors

from ..base import (LINK_PAID, NOT_FOUND, REJECTED, TIMEOUT, Gateway, GatewayError, GatewayLink, GatewayRefund,
                    GatewaySettings, LinkRequest, PaymentEvent, RefundRequest, WebhookRejected, scrub)
from . import translate, webhooks

DEFAULT_API_BASE = "https://api.razorpay.com"  # razorpay/constants/url.py:2
KEY_ID_SHAPE = re.compile(r"rzp_(test|live)_[A-Za-z0-9]+")
LINKS = "/v1/payment_links"                     # razorpay/resources/payment_link.py:9
PAYMENTS, REFUNDS = "/v1/payments", "/v1/refunds"  # razorpay/resources/payment.py, refund.py (constants/url.py)
# Query parameters of the callback redirect (GATEWAY-FACTS, Razorpay section) -> the keys the SDK's
# verify_payment_link_signature reads (razorpay/utility/utility.py:24-38; a missing key quietly gives False).
CALLBACK_KEYS = {
    "razorpay_payment_id": "razorpay_payment_id",
    "razorpay_payment_link_id": "payment_link_id",
    "razorpay_payment_link_reference_id": "payment_link_reference_id",
    "razorpay_payment_link_status": "payment_link_status",
    "razorpay_signature": "razorpay_signature",
}


class Answered(Exception):
    """Raised by `AnswerSession` instead of letting the SDK handle an error: carries the real HTTP answer
    (status, headers, body) or the requests exception. Not a RequestException, so the SDK's `except`
    blocks (razorpay/client.py:208-239) neither print nor re-classify it."""

    def __init__(self, cause: Exception | None, response: requests.Response | None = None):
        super().__init__(repr(cause) if response is None else f"HTTP {response.status_code}")
        self.cause, self.response = cause, response


class AnswerSession(requests.Session):
    """The SDK's session (razorpay/client.py:51 accepts one). Lets 2xx JSON answers through to the SDK and
    raises `Answered` for everything else, so the adapter sees the real status and Retry-After."""

    def request(self, method, url, *args, **kwargs):
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            raise Answered(exc) from exc
        if response.status_code == 204:  # the SDK answers {} itself (razorpay/client.py:188)
            return response
        if not 200 <= response.status_code < 300 or not _is_json(response):
            raise Answered(None, response)
        return response


def _is_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


class RazorpayGateway(Gateway):
    name = "razorpay"
    display_name = "Razorpay"
    customer_label = "UPI, cards and netbanking (Razorpay)"
    currencies = translate.CURRENCIES
    amount_multiples = {code: 10 for code in translate.THREE_DECIMAL}  # last digit 0 (GATEWAY-FACTS)
    min_amounts = {"INR": 100}                   # INR 1.00 (Payment Links create-standard doc)
    default_min_amount = translate.MIN_SUBUNITS  # 100 subunits in every currency (same doc)
    supports_partial = True                      # accept_partial + first_min_partial_amount
    required_config = ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET")  # settings_from needs both

    def __init__(self, settings: GatewaySettings):
        super().__init__(settings)
        # One client (and one pooled HTTP session) per adapter. No SDK retries (enable_retry stays off,
        # razorpay/client.py:61): the engine decides who retries.
        self.client = razorpay.Client(session=AnswerSession(), auth=(settings.key_id, settings.key_secret),
                                      base_url=settings.api_base)

    @property
    def test_mode_reason(self) -> str | None:
        # Key ids say their mode: rzp_test_... / rzp_live_... (razorpay.com/docs, API keys).
        if (self.settings.key_id or "").startswith("rzp_test_"):
            return "uses a test key (rzp_test_...)"
        return super().test_mode_reason

    # ---- configuration -----------------------------------------------------------------------------
    @classmethod
    def settings_from(cls, config: Mapping[str, Any]) -> GatewaySettings | None:
        key_id, secret = config.get("RAZORPAY_KEY_ID"), config.get("RAZORPAY_KEY_SECRET")
        if not (key_id and secret):
            return None
        return GatewaySettings(
            api_base=(config.get("RAZORPAY_API_BASE") or DEFAULT_API_BASE).rstrip("/"),
            key_id=key_id, key_secret=secret, webhook_secret=config.get("RAZORPAY_WEBHOOK_SECRET") or None,
            timeout=_seconds(config.get("GATEWAY_TIMEOUT_SECONDS")), live=key_id.startswith("rzp_live_"))

    @classmethod
    def configuration_problems(cls, config: Mapping[str, Any]) -> list[str]:
        key_id, secret = config.get("RAZORPAY_KEY_ID"), config.get("RAZORPAY_KEY_SECRET")
        base = config.get("RAZORPAY_API_BASE") or DEFAULT_API_BASE
        problems = []
        if secret and not key_id:
            problems.append("RAZORPAY_KEY_SECRET is set but RAZORPAY_KEY_ID is not")
        if key_id and not secret:
            problems.append("RAZORPAY_KEY_ID is set but RAZORPAY_KEY_SECRET is not")
        if key_id and not KEY_ID_SHAPE.fullmatch(key_id):
            problems.append("RAZORPAY_KEY_ID does not look like a Razorpay key id (rzp_test_... or rzp_live_...)")
        if secret and secret != secret.strip():
            problems.append("RAZORPAY_KEY_SECRET has leading or trailing spaces")
        if key_id and secret and not config.get("RAZORPAY_WEBHOOK_SECRET"):
            problems.append("RAZORPAY_WEBHOOK_SECRET is not set: Razorpay webhooks cannot be verified")
        if not re.match(r"https?://", base):
            problems.append("RAZORPAY_API_BASE must be an http(s) URL")
        elif base.rstrip("/").endswith("/v1"):
            problems.append("RAZORPAY_API_BASE must be the host only: the SDK adds /v1 itself")
        if key_id and key_id.startswith("rzp_live_") and not base.startswith("https://"):
            problems.append("a live Razorpay key must only be sent over https")
        return problems

    # ---- verbs -------------------------------------------------------------------------------------
    def create_link(self, request: LinkRequest, timeout: float) -> GatewayLink:
        params = translate.link_params(request, type(self), now=int(time.time()))
        entity = self._call("POST", LINKS, lambda **kw: self.client.payment_link.create(params, **kw), timeout)
        return translate.link_from(entity, type(self))

    def find_link(self, request: LinkRequest, timeout: float) -> GatewayLink | None:
        query = {"reference_id": request.reference}
        answer = self._call("GET", LINKS, lambda **kw: self.client.payment_link.all(query, **kw), timeout)
        links = [link for link in translate.links_from(answer, type(self)) if link.reference == request.reference]
        return links[0] if links else None

    def fetch_link(self, link_id: str, timeout: float) -> GatewayLink:
        entity = self._call("GET", f"{LINKS}/{link_id}",
                            lambda **kw: self.client.payment_link.fetch(link_id, {}, **kw), timeout)
        return translate.link_from(entity, type(self))

    def cancel_link(self, link_id: str, timeout: float) -> GatewayLink | None:
        try:
            entity = self._call("POST", f"{LINKS}/{link_id}/cancel",
                                lambda **kw: self.client.payment_link.cancel(link_id, **kw), timeout)
            return translate.link_from(entity, type(self))
        except GatewayError as exc:
            if exc.kind != REJECTED:
                raise
            # Razorpay refuses to cancel a link that is no longer live: say why, in our terms.
            link = self.fetch_link(link_id, timeout)
            if link.is_live:
                raise
            if link.status == LINK_PAID:
                raise GatewayError(self.name, REJECTED, "already_paid",
                                   f"payment link {link_id} is paid and cannot be cancelled",
                                   status=exc.status) from None
            return link  # already cancelled or expired: done

    def check_credentials(self, timeout: float) -> None:
        self._call("GET", LINKS, lambda **kw: self.client.payment_link.all({"count": 1}, **kw), timeout)

    # ---- money back: refunds (issue 12) -------------------------------------------------------------
    def create_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund:
        """POST /v1/payments/{id}/refund through `client.payment.refund` (razorpay/resources/payment.py: the later
        `refund(payment_id, data)` definition wins, so amount travels in the body)."""
        params = translate.refund_params(request, type(self))
        payment_id = request.payment_id
        try:
            entity = self._call("POST", f"{PAYMENTS}/{payment_id}/refund",
                                lambda **kw: self.client.payment.refund(payment_id, params, **kw), timeout)
        except GatewayError as exc:
            raise translate.refund_error(exc) from None
        return self._refund(entity)

    def find_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund | None:
        """The payment's refunds, matched on `receipt`. Listing never refunds; an unknown payment has none."""
        try:
            entities = self._refund_entities(request.payment_id, timeout)
        except GatewayError as exc:
            if exc.kind == NOT_FOUND:  # "The id provided does not exist": surely no refund of it either
                return None
            raise
        for entity in entities:
            if entity.get("receipt") == request.reference[:translate.MAX_RECEIPT]:
                return self._refund(entity)
        return None

    def fetch_refund(self, refund_id: str, payment_id: str, timeout: float) -> GatewayRefund:
        entity = self._call("GET", f"{REFUNDS}/{refund_id}",
                            lambda **kw: self.client.refund.fetch(refund_id, {}, **kw), timeout)
        return self._refund(entity)

    def list_refunds(self, payment_id: str, timeout: float) -> list[GatewayRefund] | None:
        return [self._refund(entity) for entity in self._refund_entities(payment_id, timeout)]

    def _refund_entities(self, payment_id: str, timeout: float) -> list[dict[str, Any]]:
        """Every refund of the payment, newest first, 100 a page (`count`, `skip`)."""
        entities: list[dict[str, Any]] = []
        while True:
            query = {"count": translate.REFUND_PAGE, "skip": len(entities)}
            answer = self._call("GET", f"{PAYMENTS}/{payment_id}/refunds",
                                lambda **kw: self.client.payment.fetch_multiple_refund(payment_id, query, **kw),
                                timeout)
            try:
                page = translate.refund_entities(answer)
            except ValueError as exc:
                raise GatewayError(self.name, TIMEOUT, "unexpected_response", str(exc)) from None
            entities.extend(page)
            if len(page) < translate.REFUND_PAGE:
                return entities

    def _refund(self, entity: Any) -> GatewayRefund:
        try:
            return translate.to_refund(entity, type(self))
        except (ValueError, TypeError, AttributeError) as exc:
            # It reached Razorpay and may have taken effect: look it up, do not send it again.
            raise GatewayError(self.name, TIMEOUT, "unexpected_response", f"unreadable refund: {exc}") from None

    # ---- incoming: webhooks and return pages ---------------------------------------------------------
    def webhook_event_id(self, raw_body: bytes, headers: Mapping[str, str]) -> str | None:
        return webhooks.event_id(headers)

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], timeout: float,
                       received_at: datetime | None = None) -> PaymentEvent:
        """No I/O: HMAC of the raw body with the webhook secret, then the pure mapping in webhooks.py.
        Razorpay signs no timestamp, so `received_at` changes nothing."""
        secret = self.settings.webhook_secret
        if not secret:
            raise WebhookRejected("RAZORPAY_WEBHOOK_SECRET is not set: cannot verify")
        signature = webhooks.header(headers, webhooks.SIGNATURE_HEADER)
        if signature is None:
            raise WebhookRejected(f"no {webhooks.SIGNATURE_HEADER} header")
        try:
            # The SDK signs str.encode("utf-8") (razorpay/utility/utility.py:60-62): strict decoding gives
            # back exactly the raw bytes, so the HMAC is over what Razorpay sent.
            body = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRejected("body is not UTF-8") from None
        if not _signature_ok(lambda: self.client.utility.verify_webhook_signature(body, signature, secret)):
            raise WebhookRejected("signature does not match the body")
        event_id = webhooks.event_id(headers)
        if event_id is None:
            raise WebhookRejected(f"no {webhooks.EVENT_ID_HEADER} header: nothing to dedupe on")
        return webhooks.event_from(body, event_id, type(self))

    def verify_return(self, params: Mapping[str, str], link_id: str, timeout: float) -> GatewayLink:
        """Check the callback signature (key secret over link_id|reference_id|status|payment_id), then fetch
        the link: the params only say which link to ask about, never how much was paid."""
        missing = [name for name in CALLBACK_KEYS if params.get(name) is None]
        if missing:
            raise WebhookRejected(f"callback without {', '.join(missing)}")
        if params["razorpay_payment_link_id"] != link_id:
            raise WebhookRejected("callback is for another payment link")
        signed = {sdk_key: str(params[name]) for name, sdk_key in CALLBACK_KEYS.items()}
        if not _signature_ok(lambda: self.client.utility.verify_payment_link_signature(signed)):
            raise WebhookRejected("callback signature does not match")
        return self.fetch_link(link_id, timeout)

    # ---- plumbing ----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, call: Callable[..., Any], timeout: float) -> Any:
        """Run one SDK call with an explicit timeout (the SDK has none); log it; map every failure."""
        started, seen = time.monotonic(), {}

        def note_status(response, *args, **kwargs):  # a per-call requests hook: thread-safe, no shared state
            seen["status"] = response.status_code

        try:
            result = call(timeout=timeout, hooks={"response": [note_status]})
        except Answered as answered:
            error = _error_from_answer(answered)
            self._log(method, path, error.status, started, f"{error.kind} {error.code}: {error.message}")
            raise error from None
        except (requests.RequestException, sdk_errors.BadRequestError, sdk_errors.GatewayError,
                sdk_errors.ServerError) as exc:  # only if the session is bypassed; kept for safety
            error = translate.error_from(exc)
            self._log(method, path, None, started, f"{error.kind} {error.code}: {error.message}")
            raise error from None
        self._log(method, path, seen.get("status"), started, "ok")
        return result

    def _log(self, method: str, path: str, status: int | None, started: float, outcome: str) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        line = f"razorpay {method} {path} -> {status or '-'} in {elapsed_ms:.0f} ms: {outcome}"
        self.log.debug("%s", scrub(line, self.settings.secrets()))


def _error_from_answer(answered: Answered) -> GatewayError:
    response = answered.response
    if response is None:
        return translate.error_from(answered.cause)
    try:
        body = response.json()
    except ValueError:
        body = None
    return translate.error_from(answered.cause, response.status_code, response.headers, body)


def _signature_ok(verify: Callable[[], Any]) -> bool:
    """Run an SDK signature check. It raises SignatureVerificationError on a mismatch, TypeError on a None
    or non-ASCII signature (hmac.compare_digest), and returns False when a key is missing
    (razorpay/utility/utility.py:24-79): only a plain True passes."""
    try:
        return verify() is True
    except (sdk_errors.SignatureVerificationError, TypeError, ValueError):
        return False


def _seconds(raw: Any) -> float:
    """GATEWAY_TIMEOUT_SECONDS (a decimal string, validated by portal/config.py) -> seconds."""
    try:
        return float(Decimal(str(raw))) if raw not in (None, "") else 3.0
    except InvalidOperation:
        return 3.0


__all__ = ["RazorpayGateway"]
