"""Stripe Checkout Sessions through the official SDK (stripe-python 16.1.0, `stripe.StripeClient`)."""
from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, ClassVar, Mapping

import requests
import stripe  # the SDK: absolute import, never this package (portal.payments.stripe)

from ..base import (CONFLICT, LINK_EXPIRED, LINK_PAID, NOT_FOUND, REJECTED, TIMEOUT, Gateway, GatewayError,
                    GatewayLink, GatewayRefund, GatewaySettings, LinkRequest, PaymentEvent, RefundRequest,
                    WebhookRejected, scrub)
from . import translate, webhooks

# Timeout of the HTTP call being made on this thread/task; read by the session below.
_CALL_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar("stripe_call_timeout", default=None)


class _PerCallTimeoutSession(requests.Session):
    """RequestsClient passes its fixed `timeout` to `session.request` (stripe/_http_client.py,
    RequestsClient._request_internal); this session swaps in the timeout of the current verb."""

    def request(self, method, url, **kwargs):  # type: ignore[override]
        timeout = _CALL_TIMEOUT.get()
        if timeout is not None:
            kwargs["timeout"] = timeout
        return super().request(method, url, **kwargs)


# Stripe presentment currencies (https://docs.stripe.com/currencies#presentment-currencies); card payments.
_PRESENTMENT = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP BYN BZD CAD CDF CHF CLP
CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN
MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE
SOS SRD STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW
"""


class StripeGateway(Gateway):
    name: ClassVar[str] = "stripe"
    display_name: ClassVar[str] = "Stripe"
    customer_label: ClassVar[str] = "Card (Stripe)"
    currencies: ClassVar[frozenset[str]] = frozenset(_PRESENTMENT.split())
    # Where Stripe's wire exponent differs from ISO 4217 (portal.money.EXPONENTS); every other zero- and
    # three-decimal currency on https://docs.stripe.com/currencies#zero-decimal / #three-decimal matches ISO.
    exponent_overrides: ClassVar[Mapping[str, int]] = {
        "ISK": 2,  # "special cases": sent as two-decimal for backwards compatibility, ISO says 0
        "MGA": 0,  # zero-decimal at Stripe, ISO 4217 gives it 2
    }
    amount_multiples: ClassVar[Mapping[str, int]] = {
        "ISK": 100,  # no fractional kronur: a multiple of 100 (docs.stripe.com/currencies, special cases)
        # three-decimal: the last digit must be 0 (docs.stripe.com/currencies#three-decimal)
        **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 10),
    }
    # Minimum charge in ISO minor units
    # (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts); other currencies: the
    # equivalent of 0.50 USD in the settlement currency, known only at charge time (Stripe answers
    # `amount_too_small`, a REJECTED error).
    min_amounts: ClassVar[Mapping[str, int]] = {
        "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
        "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000,
        "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
    }
    # "The amount value supports up to eight digits" (same page, minimum and maximum charge amounts).
    max_gateway_amount: ClassVar[int | None] = 99_999_999
    # Seconds a webhook's signed timestamp may be off, either way: the default of
    # STRIPE_WEBHOOK_TOLERANCE_SECONDS and of stripe.Webhook.DEFAULT_TOLERANCE (stripe/_webhook.py).
    # GatewaySettings has no field for it yet, so the config value is not read.
    webhook_tolerance: ClassVar[int] = 300
    required_config: ClassVar[tuple[str, ...]] = ("STRIPE_SECRET_KEY",)  # settings_from needs only this

    def __init__(self, settings: GatewaySettings):
        super().__init__(settings)
        api_base = settings.api_base.rstrip("/")
        # Off the real API, point every host at the same base so no call can reach Stripe itself.
        others = api_base if api_base != stripe.DEFAULT_API_BASE else None
        addresses: dict[str, str] = {"api": api_base}
        if others:
            addresses.update(connect=others, files=others, meter_events=others)
        self._http = stripe.RequestsClient(timeout=settings.timeout, session=_PerCallTimeoutSession())
        # max_network_retries=0: the engine retries (tenacity) with the same key; the SDK must not as well.
        self._client = stripe.StripeClient(settings.key_id or "", base_addresses=addresses,
                                           max_network_retries=0, http_client=self._http)
        self._sessions = self._client.v1.checkout.sessions
        self._refunds = self._client.v1.refunds

    @property
    def test_mode_reason(self) -> str | None:
        # Secret and restricted keys say their mode: sk_test_ / rk_test_ (https://docs.stripe.com/keys).
        if (self.settings.key_id or "").startswith(("sk_test_", "rk_test_")):
            return "uses a test key (sk_test_...)"
        return super().test_mode_reason

    # ---- configuration -----------------------------------------------------------------------------
    @classmethod
    def settings_from(cls, config: Mapping[str, Any]) -> GatewaySettings | None:
        key = config.get("STRIPE_SECRET_KEY")
        if not key:
            return None
        return GatewaySettings(
            api_base=config.get("STRIPE_API_BASE") or stripe.DEFAULT_API_BASE,
            key_id=key,
            webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or None,
            publishable_key=config.get("STRIPE_PUBLISHABLE_KEY") or None,
            timeout=float(Decimal(str(config.get("GATEWAY_TIMEOUT_SECONDS") or "3"))),
            # Secret (sk_) and restricted (rk_) keys say their mode (https://docs.stripe.com/keys).
            live=key.startswith(("sk_live_", "rk_live_")),
        )

    @classmethod
    def configuration_problems(cls, config: Mapping[str, Any]) -> list[str]:
        problems = []
        key, publishable = config.get("STRIPE_SECRET_KEY"), config.get("STRIPE_PUBLISHABLE_KEY")
        if key and not key.startswith(("sk_", "rk_")):
            problems.append("STRIPE_SECRET_KEY must be a secret (sk_...) or restricted (rk_...) key")
        if publishable and not publishable.startswith("pk_"):
            problems.append("STRIPE_PUBLISHABLE_KEY must be a publishable key (pk_...)")
        return problems

    # ---- plumbing ----------------------------------------------------------------------------------
    @contextmanager
    def _timeout(self, seconds: float):
        token = _CALL_TIMEOUT.set(seconds)
        try:
            yield
        finally:
            _CALL_TIMEOUT.reset(token)

    def _call(self, method: str, path: str, timeout: float, send: Callable[[], Any],
              idempotency_key: str | None = None,
              errors: Callable[[stripe.StripeError], GatewayError] = translate.gateway_error) -> Any:
        """One SDK call: per-call timeout, one scrubbed DEBUG line, SDK errors -> GatewayError."""
        started = time.monotonic()
        status: object = "-"
        try:
            with self._timeout(timeout):
                result = send()
            response = getattr(result, "last_response", None)
            status = getattr(response, "code", 200)
            if response is not None and response.headers.get("Idempotent-Replayed") == "true":
                status = f"{status} (replayed)"
            return result
        except stripe.StripeError as exc:
            error = errors(exc)
            status = exc.http_status or error.kind
            raise error from exc
        finally:
            elapsed_ms = int((time.monotonic() - started) * 1000)
            line = (f"stripe {method} {path} -> {status} in {elapsed_ms} ms"
                    f" idempotency_key={idempotency_key or '-'}")
            self.log.debug(scrub(line, self.settings.secrets()))

    # ---- verbs -------------------------------------------------------------------------------------
    def create_link(self, request: LinkRequest, timeout: float) -> GatewayLink:
        params = translate.session_params(request, type(self), now=int(time.time()))
        options = translate.request_options(request)
        session = self._call("POST", translate.SESSIONS_PATH, timeout,
                             lambda: self._sessions.create(params=params, options=options),  # type: ignore[arg-type]
                             idempotency_key=options["idempotency_key"])
        return translate.to_link(session.to_dict(), type(self))

    def find_link(self, request: LinkRequest, timeout: float) -> GatewayLink | None:
        """Replay the create under the same Idempotency-Key: Stripe answers with the first result.

        If the first attempt never ran, this replay creates the session: still one per reference.
        A replayed 400/404 means Stripe refused it before creating anything: None
        (https://docs.stripe.com/error-low-level#idempotency). A 409 (the first is still running) is
        CONFLICT. `idempotency_error` (the key was first used with other params) says nothing about the
        outcome, so the newest sessions are searched for our reference; everything else propagates."""
        try:
            return self.create_link(request, timeout)
        except GatewayError as exc:
            if exc.code == "idempotency_error":
                found = self._recent_with_reference(request.reference, timeout)
                if found is None:
                    raise
                return found
            if exc.kind in (REJECTED, NOT_FOUND):
                return None
            raise

    def _recent_with_reference(self, reference: str, timeout: float) -> GatewayLink | None:
        """The newest session carrying `reference`, among the last RECENT_SCAN (list has no filter for it)."""
        page = self._call("GET", translate.SESSIONS_PATH, timeout,
                          lambda: self._sessions.list(params={"limit": translate.RECENT_SCAN}))
        for session in page.data:
            if translate.reference_of(session.to_dict()) == reference:
                return translate.to_link(session.to_dict(), type(self))
        return None

    def fetch_link(self, link_id: str, timeout: float) -> GatewayLink:
        session = self._call("GET", f"{translate.SESSIONS_PATH}/{link_id}", timeout,
                             lambda: self._sessions.retrieve(link_id))
        return translate.to_link(session.to_dict(), type(self))

    def cancel_link(self, link_id: str, timeout: float) -> GatewayLink | None:
        """Expire the session; already expired is success; paid (or paying) is REJECTED."""
        try:
            session = self._call("POST", f"{translate.SESSIONS_PATH}/{link_id}/expire", timeout,
                                 lambda: self._sessions.expire(link_id))
            return translate.to_link(session.to_dict(), type(self))
        except GatewayError as exc:
            # Stripe answers 400 when the session is no longer open; look at what it is now.
            if exc.kind != REJECTED or exc.code == "idempotency_error":
                raise
        link = self.fetch_link(link_id, timeout)
        if link.status == LINK_EXPIRED:
            return link
        if link.status == LINK_PAID:
            raise GatewayError(self.name, REJECTED, "already_paid", f"Checkout Session {link_id} is paid")
        if link.raw.get("status") == "complete":
            raise GatewayError(self.name, REJECTED, "payment_processing",
                               f"Checkout Session {link_id} is complete; its payment is still settling")
        raise GatewayError(self.name, CONFLICT, "still_open", f"Checkout Session {link_id} did not expire; retry")

    def check_credentials(self, timeout: float) -> None:
        self._call("GET", translate.SESSIONS_PATH, timeout, lambda: self._sessions.list(params={"limit": 1}))

    # ---- money back: refunds (issue 12) -------------------------------------------------------------
    def create_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund:
        params = translate.refund_params(request, type(self))
        options = translate.refund_options(request)
        refund = self._call("POST", translate.REFUNDS_PATH, timeout,
                            lambda: self._refunds.create(params=params, options=options),  # type: ignore[arg-type]
                            idempotency_key=options["idempotency_key"], errors=translate.refund_error)
        return self._refund(refund.to_dict())

    def find_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund | None:
        """The payment's refunds, matched on metadata.reference. Listing never refunds; a replay of the create
        would refund if the first attempt never arrived, which is the engine's call to make, not a lookup's."""
        try:
            refunds = self._refund_objects(request.payment_id, timeout)
        except GatewayError as exc:
            if exc.code == "resource_missing":  # no such PaymentIntent: surely no refund of it either
                return None
            raise
        for refund in refunds:
            if translate.reference_of_refund(refund) == request.reference:
                return self._refund(refund)
        return None

    def fetch_refund(self, refund_id: str, payment_id: str, timeout: float) -> GatewayRefund:
        refund = self._call("GET", f"{translate.REFUNDS_PATH}/{refund_id}", timeout,
                            lambda: self._refunds.retrieve(refund_id))
        return self._refund(refund.to_dict())

    def list_refunds(self, payment_id: str, timeout: float) -> list[GatewayRefund] | None:
        return [self._refund(refund) for refund in self._refund_objects(payment_id, timeout)]

    def _refund_objects(self, payment_id: str, timeout: float) -> list[dict[str, Any]]:
        """Every refund of the PaymentIntent, newest first, page by page (`starting_after`)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"payment_intent": payment_id, "limit": translate.REFUND_PAGE}
        while True:
            page = self._call("GET", translate.REFUNDS_PATH, timeout,
                              lambda: self._refunds.list(params=dict(params)))  # type: ignore[arg-type]
            items = [refund.to_dict() for refund in page.data]
            found.extend(items)
            if not page.has_more or not items:
                return found
            params["starting_after"] = items[-1]["id"]

    def _refund(self, refund: dict[str, Any]) -> GatewayRefund:
        try:
            return translate.to_refund(refund, type(self))
        except ValueError as exc:  # an answer we cannot read: it may have worked
            raise GatewayError(self.name, TIMEOUT, "invalid_response", f"unreadable Refund: {exc}") from exc

    # ---- incoming: webhooks and return pages -------------------------------------------------------
    def webhook_event_id(self, raw_body: bytes, headers: Mapping[str, str]) -> str | None:
        return webhooks.event_id(raw_body)

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], timeout: float,
                       received_at: datetime | None = None) -> PaymentEvent:
        """HMAC check on the raw bytes, both sides of the tolerance, then the mapping. No I/O (`timeout` unused).

        `stripe.Webhook.construct_event` is `WebhookSignature.verify_header` + `json.loads` + an `Event`
        wrapper (stripe/_webhook.py); we call the check and parse the plain dict ourselves."""
        secret = self.settings.webhook_secret
        if not secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not set: cannot verify")
        signature = webhooks.header(headers, webhooks.SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected("no Stripe-Signature header")
        tolerance = self.webhook_tolerance
        # The SDK judges freshness against its own clock: for bytes received earlier, widen its window by
        # their age, which is the same as judging against the moment they arrived.
        arrived = received_at.timestamp() if received_at is not None else time.time()
        age = max(0, int(time.time() - arrived))
        try:
            stripe.WebhookSignature.verify_header(raw_body, signature, secret, tolerance + age)
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"signature: {exc}") from exc
        except ValueError as exc:  # UnicodeDecodeError: the SDK decodes the body as UTF-8 before signing it
            raise WebhookRejected("body is not UTF-8") from exc
        # verify_header refuses only timestamps older than the tolerance; one from the future is refused here.
        signed = webhooks.signed_at(signature)
        if signed is None or signed > arrived + tolerance:
            raise WebhookRejected(f"signature timestamp {signed} is more than {tolerance} s in the future")
        return webhooks.to_event(webhooks.parse(raw_body), type(self))

    def attempt_declined(self, link: GatewayLink) -> bool:
        return translate.attempt_declined(link.raw)

    def verify_return(self, params: Mapping[str, str], link_id: str, timeout: float) -> GatewayLink:
        """The success URL carries `session_id` (translate.SESSION_ID_PLACEHOLDER). It only names the session;
        the session as Stripe reports it now is the truth."""
        session_id = params.get("session_id")
        if not session_id or session_id != link_id:
            shown = session_id[:80] if isinstance(session_id, str) else session_id
            raise WebhookRejected(f"return for Checkout Session {shown!r}, expected {link_id!r}")
        return self.fetch_link(link_id, timeout)
