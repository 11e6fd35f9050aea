"""PayPal adapter, the I/O half: one pooled `requests.Session`, a cached OAuth token, and the verbs.

PayPal's REST API is called directly: the official `paypal-server-sdk` takes no custom base URL and
`paypal-checkout-serversdk` is deprecated (GATEWAY-FACTS). Everything PayPal-shaped lives in `translate.py`.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from ..base import (NOT_FOUND, REJECTED, Gateway, GatewayError, GatewayLink, GatewayRefund,
                    GatewaySettings, LinkRequest, PaymentEvent, RefundRequest, WebhookRejected, scrub)
from . import translate, webhooks

LIVE_API_BASE = "https://api-m.paypal.com"  # developer.paypal.com/api/rest/ (live vs sandbox hosts)
SANDBOX_API_BASE = "https://api-m.sandbox.paypal.com"
# Tokens last `expires_in` seconds (about 9 h: developer.paypal.com/api/rest/authentication/); refresh a minute
# early, or halfway through a token that short, so a call never leaves with a token about to lapse.
TOKEN_MARGIN_SECONDS = 60
POOL_SIZE = 16  # connections kept to PayPal, shared by every thread of the process
_WEBHOOK_ID = re.compile(r"[A-Z0-9]+")  # PayPal webhook ids: upper-case letters and digits
CERT_CACHE_SIZE = 16  # signing certificates kept, by URL (PayPal rotates them rarely)


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # on the adapter's monotonic clock


class PayPalGateway(Gateway):
    name = "paypal"
    display_name = "PayPal"
    customer_label = "PayPal"
    currencies = translate.CURRENCIES  # developer.paypal.com/api/rest/reference/currency-codes/ (no INR)
    # HUF, JPY, TWD take no decimals at PayPal (same page); ISO 4217 gives HUF and TWD two.
    exponent_overrides = {code: 0 for code in translate.NO_DECIMAL_CURRENCIES}
    # PayPal refuses zero (CANNOT_BE_ZERO_OR_NEGATIVE); HUF/TWD must be whole units, so one unit at least.
    min_amounts = {"HUF": 100, "TWD": 100}
    # amount.value: "up to 15 digits preceding the decimal" (checkout_orders_v2.json, purchase_unit_request.amount);
    # one number for every currency, so the zero-decimal bound (also Money's MAX_INTEGER_DIGITS).
    max_gateway_amount = 10**15 - 1
    supports_partial = False  # an order is approved and captured for its full amount
    required_config = ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET")  # settings_from needs both

    def __init__(self, settings: GatewaySettings, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(settings)
        self.session = session or _pooled_session()
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self._certs: dict[str, Any] = {}  # cert URL -> x509.Certificate
        self._certs_lock = threading.Lock()

    @property
    def test_mode_reason(self) -> str | None:
        # PayPal's credentials do not say their mode; the host does (developer.paypal.com/api/rest/).
        if self.settings.api_base.rstrip("/") == SANDBOX_API_BASE:
            return "uses PayPal's sandbox"
        return super().test_mode_reason

    # ---- configuration ---------------------------------------------------------------------------------
    @classmethod
    def settings_from(cls, config: Mapping[str, Any]) -> GatewaySettings | None:
        client_id, secret = config.get("PAYPAL_CLIENT_ID"), config.get("PAYPAL_CLIENT_SECRET")
        if not (client_id and secret):
            return None
        live = config.get("PAYPAL_MODE") == "live"
        return GatewaySettings(
            api_base=(config.get("PAYPAL_API_BASE") or (LIVE_API_BASE if live else SANDBOX_API_BASE)).rstrip("/"),
            key_id=client_id, key_secret=secret, webhook_secret=config.get("PAYPAL_WEBHOOK_ID") or None,
            timeout=_seconds(config.get("GATEWAY_TIMEOUT_SECONDS")), live=live,
            cert_url_prefixes=tuple(config.get("PAYPAL_CERT_URL_PREFIXES", ())),
            webhook_tolerance=int(config.get("PAYPAL_WEBHOOK_TOLERANCE_SECONDS") or webhooks.TOLERANCE_SECONDS))

    @classmethod
    def configuration_problems(cls, config: Mapping[str, Any]) -> list[str]:
        client_id, secret = config.get("PAYPAL_CLIENT_ID"), config.get("PAYPAL_CLIENT_SECRET")
        problems = []
        if secret and not client_id:
            problems.append("PAYPAL_CLIENT_SECRET is set but PAYPAL_CLIENT_ID is not")
        if client_id and not secret:
            problems.append("PAYPAL_CLIENT_ID is set but PAYPAL_CLIENT_SECRET is not")
        for name in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"):
            value = config.get(name)
            if value and any(ch.isspace() for ch in value):
                problems.append(f"{name} contains spaces or line breaks (a copy-paste slip?)")
        webhook_id = (config.get("PAYPAL_WEBHOOK_ID") or "").strip()
        if webhook_id and not _WEBHOOK_ID.fullmatch(webhook_id):
            problems.append("PAYPAL_WEBHOOK_ID should be PayPal's webhook id (upper-case letters and digits)")
        mode = config.get("PAYPAL_MODE") or "sandbox"
        if mode not in ("sandbox", "live"):
            problems.append(f"PAYPAL_MODE must be sandbox or live, got {mode!r}")
        base = config.get("PAYPAL_API_BASE") or ""
        if base and not base.startswith(("https://", "http://")):
            problems.append(f"PAYPAL_API_BASE must be an http(s) URL, got {base!r}")
        if mode == "live" and base.rstrip("/") == SANDBOX_API_BASE:
            problems.append("PAYPAL_MODE is live but PAYPAL_API_BASE is PayPal's sandbox")
        if mode != "live" and base.rstrip("/") == LIVE_API_BASE:
            problems.append("PAYPAL_API_BASE is live PayPal but PAYPAL_MODE is not live")
        return problems

    # ---- verbs -----------------------------------------------------------------------------------------
    def create_link(self, request: LinkRequest, timeout: float) -> GatewayLink:
        body = translate.order_body(request, type(self))
        order = self._call("POST", "/v2/checkout/orders", timeout, body=body, request_id=request.reference)
        return translate.order_to_link(order, now=_now(), request=request)

    def find_link(self, request: LinkRequest, timeout: float) -> GatewayLink | None:
        """Replays the create: PayPal answers a known PayPal-Request-Id (kept 6 h) with the stored order, and
        creates the order if the first attempt never arrived (one order either way). Past 6 h the replay
        answers REJECTED DUPLICATE_INVOICE_ID: the order exists, and has lapsed (3 h) unless it was captured."""
        return self.create_link(request, timeout)

    def fetch_link(self, link_id: str, timeout: float) -> GatewayLink:
        order = self._call("GET", f"/v2/checkout/orders/{quote(link_id, safe='')}", timeout)
        return translate.order_to_link(order, now=_now())

    def cancel_link(self, link_id: str, timeout: float) -> GatewayLink | None:
        return None  # an unapproved order needs no cancel: it lapses (GATEWAY-FACTS); just never capture it

    def capture_order(self, order_id: str, reference: str, timeout: float) -> GatewayLink:
        """Take the money of an APPROVED order. Status `paid` when the capture COMPLETED; `created` while it
        is PENDING; `cancelled` when DECLINED. Capturing twice answers the order as it stands."""
        path = f"/v2/checkout/orders/{quote(order_id, safe='')}/capture"
        try:
            order = self._call("POST", path, timeout, body={}, request_id=translate.capture_request_id(reference))
        except GatewayError as exc:
            if exc.kind == REJECTED and exc.code == "ORDER_ALREADY_CAPTURED":
                return self.fetch_link(order_id, timeout)
            raise
        return translate.order_to_link(order, now=_now())

    # ---- money back: refunds ------------------------------------------------------------------------------
    def create_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund:
        """POST /v2/payments/captures/{id}/refund (Payments v2 `captures.refund`) under PayPal-Request-Id = our
        reference, which PayPal keeps 45 days (parameter `paypal_request_id` in payments_payment_v2.json)."""
        body = translate.refund_body(request, type(self))
        path = f"/v2/payments/captures/{quote(request.payment_id, safe='')}/refund"
        try:
            refund = self._call("POST", path, timeout, body=body, request_id=request.reference)
        except GatewayError as exc:
            raise translate.refund_refusal(exc) from None
        return translate.refund_to_gateway(refund, request.payment_id)

    def find_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund | None:
        """Replays the create: a known PayPal-Request-Id "returns the latest status of the previous request"
        (https://developer.paypal.com/api/rest/reference/idempotency/), and one that never arrived is made now
        (one refund either way). A replay PayPal refuses (more than is left, not refundable) means no refund was
        made under this reference: None. Past the 45 days PayPal keeps the id, the replay answers REJECTED
        DUPLICATE_INVOICE_ID (the refund exists; PayPal cannot list a capture's refunds to show it)."""
        try:
            return self.create_refund(request, timeout)
        except GatewayError as exc:
            if exc.kind == REJECTED and exc.code in ("refund_exceeds_payment", "payment_not_refundable"):
                return None
            raise

    def fetch_refund(self, refund_id: str, payment_id: str, timeout: float) -> GatewayRefund:
        """GET /v2/payments/refunds/{id} (Payments v2 `refunds.get`)."""
        refund = self._call("GET", f"/v2/payments/refunds/{quote(refund_id, safe='')}", timeout)
        return translate.refund_to_gateway(refund, payment_id)

    def list_refunds(self, payment_id: str, timeout: float) -> list[GatewayRefund] | None:
        return None  # Payments v2 has no call listing a capture's refunds; its refund webhooks carry each refund

    def check_credentials(self, timeout: float) -> None:
        with self._token_lock:
            self._fetch_token(timeout)

    # ---- incoming: webhooks and return pages -------------------------------------------------------------
    def webhook_event_id(self, raw_body: bytes, headers: Mapping[str, str]) -> str | None:
        return webhooks.event_id(raw_body)

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], timeout: float,
                       received_at: datetime | None = None) -> PaymentEvent:
        """A fresh transmission (PAYPAL_WEBHOOK_TOLERANCE_SECONDS), then the signature: offline when
        PAYPAL-CERT-URL is on an allowed host (PAYPAL_CERT_URL_PREFIXES or the API base's origin), else PayPal's
        postback. A capture event is then rebuilt from PayPal's own answer about the capture, since the signature
        covers only a CRC-32 of the body. WebhookRejected for anything forged, stale or malformed; GatewayError
        when PayPal cannot be asked (certificate, postback or capture lookup failed): do not apply then, PayPal
        delivers again. The event carries the transmission id, for ledger.claim_transmission."""
        transmission = webhooks.transmission_from(headers)
        webhooks.event_json(raw_body)  # one JSON object, or rejected before any I/O
        webhook_id = self.settings.webhook_secret
        if not webhook_id:
            raise WebhookRejected("PAYPAL_WEBHOOK_ID is not configured: cannot verify PayPal webhooks")
        webhooks.check_transmission_time(transmission, received_at or _now(), self.settings.webhook_tolerance)
        if webhooks.cert_url_allowed(transmission.cert_url, self.settings.cert_url_prefixes, self.settings.api_base):
            certificate = self._certificate(transmission.cert_url, timeout)
            webhooks.check_signature(certificate, transmission, webhook_id, raw_body, _now())
        else:
            self._postback(transmission, webhook_id, raw_body, timeout)
        event = self._as_paypal_reports_it(webhooks.parse_event(raw_body), timeout)
        return replace(event, transmission_id=transmission.transmission_id)

    def fetch_capture(self, capture_id: str, timeout: float) -> Any:
        """GET /v2/payments/captures/{id} (Payments v2 `captures.get`): the capture as PayPal knows it."""
        return self._call("GET", f"/v2/payments/captures/{quote(capture_id, safe='')}", timeout)

    def _as_paypal_reports_it(self, event: PaymentEvent, timeout: float) -> PaymentEvent:
        """Before an event may credit money, ask PayPal about its capture and keep only what PayPal says; a refund
        or dispute event, about its refund or dispute. One PayPal does not know (404) or will not look up (4xx) is not
        ours: rejected."""
        refund_id = webhooks.refund_to_confirm(event)
        if refund_id is not None:
            answer = self._confirming("refund", f"/v2/payments/refunds/{quote(refund_id, safe='')}", refund_id,
                                      timeout)
            return webhooks.confirmed_refund_event(event, answer)
        dispute_id = webhooks.dispute_to_confirm(event)
        if dispute_id is not None:
            answer = self._confirming("dispute", f"/v1/customer/disputes/{quote(dispute_id, safe='')}", dispute_id,
                                      timeout)
            return webhooks.confirmed_dispute_event(event, answer)
        capture_id = webhooks.capture_to_confirm(event)
        if capture_id is None:
            return event
        try:
            capture = self.fetch_capture(capture_id, timeout)
        except GatewayError as exc:
            if exc.kind in (NOT_FOUND, REJECTED):
                raise WebhookRejected(f"PayPal has no capture {capture_id[:40]!r} for us ({exc.code})") from None
            raise
        return webhooks.confirmed_event(event, capture)

    def _confirming(self, what: str, path: str, object_id: str, timeout: float) -> Any:
        """PayPal's own answer about an event's object; one it does not know (404) or will not show (4xx) is
        rejected, anything else (5xx, timeouts) is GatewayError so PayPal's next attempt asks again."""
        try:
            return self._call("GET", path, timeout)
        except GatewayError as exc:
            if exc.kind in (NOT_FOUND, REJECTED):
                raise WebhookRejected(f"PayPal has no {what} {object_id[:40]!r} for us ({exc.code})") from None
            raise

    def verify_return(self, params: Mapping[str, str], link_id: str, timeout: float) -> GatewayLink:
        """The buyer came back with `?token=<order id>&PayerID=…` (GATEWAY-FACTS). The token must be this
        link's order; then the order decides: APPROVED is captured (request id `<reference>-capture`, so the
        webhook job and this page capture once between them), anything else is answered as it stands."""
        token = params.get("token")
        if not token or token != link_id:
            raise WebhookRejected("return token does not match the order")
        link = self.fetch_link(link_id, timeout)
        if link.raw.get("status") != "APPROVED":
            return link
        if not link.reference:  # our orders always carry invoice_id = our reference (translate.order_body)
            raise WebhookRejected("the order carries no reference of ours")
        return self.capture_order(link_id, link.reference, timeout)

    def _certificate(self, url: str, timeout: float) -> Any:
        """The signing certificate at an allowed URL, cached by URL. No credentials sent, no redirects."""
        with self._certs_lock:
            cached = self._certs.get(url)
        if cached is not None and _now() <= cached.not_valid_after_utc:
            return cached  # an expired one is fetched again, in case PayPal replaced it at the same URL
        response = self._send("GET", url, timeout, absolute=True, allow_redirects=False, stream=True)
        try:
            if response.status_code >= 500 or response.status_code == 429:  # PayPal is struggling: retry later
                raise translate.error_from_response(response.status_code, response.headers, "", _now())
            if response.status_code != 200:  # 404, a redirect, 405 on an API path: no certificate there
                raise WebhookRejected(f"no certificate at PAYPAL-CERT-URL (HTTP {response.status_code})")
            pem = _read_capped(response, webhooks.CERT_MAX_BYTES)
        finally:
            response.close()
        certificate = webhooks.load_certificate(pem)
        with self._certs_lock:
            if len(self._certs) >= CERT_CACHE_SIZE:
                self._certs.pop(next(iter(self._certs)))
            self._certs[url] = certificate
        return certificate

    def _postback(self, transmission: webhooks.Transmission, webhook_id: str, raw_body: bytes, timeout: float) -> None:
        """POST /v1/notifications/verify-webhook-signature; only verification_status SUCCESS passes.
        PayPal refusing the request itself (400/422: e.g. a header value its schema does not allow) rejects."""
        body = webhooks.postback_body(transmission, webhook_id, raw_body)
        try:
            answer = self._call("POST", "/v1/notifications/verify-webhook-signature", timeout, raw=body)
        except GatewayError as exc:
            if exc.kind in (REJECTED, NOT_FOUND):
                raise WebhookRejected(f"PayPal refused to verify the delivery: {exc.code}") from None
            raise
        if not webhooks.postback_verified(answer):
            raise WebhookRejected("PayPal says the signature does not verify")

    # ---- HTTP ------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, timeout: float, *, body: Any = None, raw: bytes | None = None,
              request_id: str | None = None) -> Any:
        """One API call with a cached token; a 401 drops the token and tries once more with a fresh one.
        `raw` sends those exact bytes as the JSON body instead of encoding `body`."""
        headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        for attempt in (1, 2):
            token = self._access_token(timeout)
            payload = {"data": raw} if raw is not None else {"json": body}
            response = self._send(method, path, timeout, token=token, headers=headers, **payload)
            if response.status_code == 401 and attempt == 1:
                self._forget_token(token)
                continue
            break
        if response.status_code >= 400:
            raise translate.error_from_response(response.status_code, response.headers, response.text, _now())
        return translate.json_body(response.text)

    def _send(self, method: str, path: str, timeout: float, *, token: str | None = None, absolute: bool = False,
              **kwargs: Any) -> requests.Response:
        """`absolute`: `path` is a whole URL (the webhook certificate), not one under the API base."""
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = self.session.request(method, path if absolute else self.settings.api_base + path,
                                            headers=headers, timeout=(timeout, timeout), **kwargs)
        except requests.RequestException as exc:
            error = translate.error_from_exception(exc)
            self._log(method, path, f"failed {error.kind}/{error.code}", started, headers, None, token)
            raise error from None
        debug_id = response.headers.get("Paypal-Debug-Id")
        self._log(method, path, response.status_code, started, headers, debug_id, token)
        return response

    def _log(self, method: str, path: str, outcome: Any, started: float, headers: Mapping[str, str],
             debug_id: str | None, token: str | None) -> None:
        if not self.log.isEnabledFor(logging.DEBUG):
            return
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        line = (f"paypal {method} {path} -> {outcome} in {elapsed_ms} ms "
                f"request_id={headers.get('PayPal-Request-Id', '-')} debug_id={debug_id or '-'}")
        self.log.debug(scrub(line, self.settings.secrets() + ((token,) if token else ())))

    # ---- OAuth token (thread-safe; one fetch at a time) --------------------------------------------------
    def _access_token(self, timeout: float) -> str:
        token = self._token
        if token and self._clock() < token.refresh_at:
            return token.value
        with self._token_lock:
            token = self._token
            if token and self._clock() < token.refresh_at:
                return token.value
            return self._fetch_token(timeout)

    def _fetch_token(self, timeout: float) -> str:
        """POST /v1/oauth2/token (Basic auth, client_credentials) and cache it; the caller holds the lock."""
        try:
            response = self._send("POST", "/v1/oauth2/token", timeout, data={"grant_type": "client_credentials"},
                                  auth=(self.settings.key_id or "", self.settings.key_secret or ""),
                                  headers={"Accept": "application/json"})
            if response.status_code >= 400:
                raise translate.error_from_response(response.status_code, response.headers, response.text, _now())
            value, expires_in = translate.token_from(translate.json_body(response.text))
        except GatewayError as error:
            raise translate.before_the_call(error) from None
        lifetime = expires_in - min(TOKEN_MARGIN_SECONDS, expires_in / 2)
        self._token = _Token(value, self._clock() + lifetime)
        return value

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            if self._token and self._token.value == token:  # not one another thread just fetched
                self._token = None


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)  # the engine retries
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _read_capped(response: requests.Response, limit: int) -> bytes:
    """The body, at most `limit` bytes; larger is no certificate (WebhookRejected)."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(8192):
            size += len(chunk)
            if size > limit:
                raise WebhookRejected("the PAYPAL-CERT-URL document is too large for a certificate")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise translate.error_from_exception(exc) from None
    return b"".join(chunks)


def _seconds(raw: Any, default: str = "3") -> float:
    """GATEWAY_TIMEOUT_SECONDS is a decimal string (config.py); a timeout, not money, so float is fine."""
    try:
        value = Decimal(str(raw if raw not in (None, "") else default))
    except InvalidOperation:
        value = Decimal(default)
    return float(value) if value.is_finite() and value > 0 else float(default)


def _now() -> datetime:
    return datetime.now(timezone.utc)
