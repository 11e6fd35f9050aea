"""What every gateway adapter is: facts declared as data, and a small set of verbs.

Each gateway is one package (`portal/payments/<name>/`) with a pure `translate.py` (request parameters,
response and error mapping; tested against `tests/reference/`) and a thin `client.py` that does the
I/O through the official SDK or REST API. The engine only ever speaks the verbs below, so adding a gateway
is one new package plus one line in `registry.py`.

Money crosses this boundary as `Money` (integer ISO minor units); each adapter converts once, at its edge,
with `gateway_amount()` and the exponent overrides it declares.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Mapping

from ..money import Money, exponent

# Normalised link states, whatever each gateway calls them.
LINK_CREATED = "created"          # live: the customer can pay it
LINK_PARTIALLY_PAID = "partially_paid"
LINK_PAID = "paid"
LINK_EXPIRED = "expired"
LINK_CANCELLED = "cancelled"
LIVE_LINK_STATES = frozenset({LINK_CREATED, LINK_PARTIALLY_PAID})

FILTERED = "[FILTERED]"
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)\s+[^\s'\",}]+")
_KEY_SHAPES = re.compile(r"\b(?:(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+|whsec_[A-Za-z0-9]+|rzp_(?:test|live)_[A-Za-z0-9]+)")


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace keys, secrets and Authorization values in text meant for logs or the attempt log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, FILTERED)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + FILTERED, text)
    return _KEY_SHAPES.sub(FILTERED, text)


def is_local_url(url: str) -> bool:
    """Whether `url` points at this machine (localhost, 127.0.0.0/8, ::1): a stand-in, never a real gateway."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


@dataclass(frozen=True)
class GatewaySettings:
    """Everything an adapter needs from configuration (docs/configuration.md)."""

    api_base: str
    key_id: str | None = None         # Razorpay key id, PayPal client id, Stripe secret key
    key_secret: str | None = None     # Razorpay key secret, PayPal client secret
    webhook_secret: str | None = None  # Razorpay/Stripe webhook secret, PayPal webhook id
    publishable_key: str | None = None
    timeout: float = 3.0              # seconds, connect and read, per HTTP call
    live: bool = False                # real money: never in tests or the sandbox
    # PayPal: URL prefixes a webhook's PAYPAL-CERT-URL may point at (the API base's origin is trusted too).
    cert_url_prefixes: tuple[str, ...] = ()
    # Seconds a webhook's signed timestamp may be from now, either way (PayPal: PAYPAL_WEBHOOK_TOLERANCE_SECONDS).
    webhook_tolerance: int = 300

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.key_id, self.key_secret, self.webhook_secret) if s)


@dataclass(frozen=True)
class LinkRequest:
    """One link to create: built by the engine, translated by the adapter."""

    invoice_id: int
    invoice_number: str
    amount: Money                     # what is due now, in the invoice's currency
    reference: str                    # our idempotency key for this (invoice, gateway, attempt); <= 40 chars
    description: str
    customer_name: str
    customer_email: str
    customer_phone: str
    return_url: str                   # the customer comes back here after paying
    cancel_url: str                   # ... or after giving up
    expires_at: datetime              # aware UTC
    accept_partial: bool = False
    min_partial: Money | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayLink:
    """A link as the gateway reports it, in our terms."""

    gateway: str
    link_id: str
    url: str | None
    status: str                        # one of the LINK_* states
    amount: Money                      # asked for, in ISO minor units of the invoice currency
    amount_paid: Money
    reference: str | None              # the reference / idempotency key we sent, when the gateway echoes it
    expires_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # Money that reached the merchant through this link, one entry per gateway payment/capture
    # (reconciliation applies each once, keyed on its id). Empty when nothing was paid.
    payments: tuple[GatewayPayment, ...] = ()

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_LINK_STATES


@dataclass(frozen=True)
class GatewayPayment:
    """One payment (Razorpay payment, Stripe PaymentIntent, PayPal capture) that completed."""

    payment_id: str
    amount: Money


# Normalised refund states (Stripe pending/requires_action/succeeded/failed/canceled, Razorpay pending/processed/failed,
# PayPal PENDING/COMPLETED/FAILED/CANCELLED).
REFUND_PENDING = "pending"        # accepted by the gateway, money not yet back with the customer
REFUND_SUCCEEDED = "succeeded"    # done: the money left the merchant
REFUND_FAILED = "failed"          # will not happen (or was reversed): nothing left the merchant
REFUND_STATES = (REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED)

# Normalised dispute states. Stripe warning_needs_response/needs_response/warning_under_review/under_review ->
# open/under_review, won/warning_closed -> won, lost -> lost; Razorpay open/under_review/won/lost/closed;
# PayPal OPEN/WAITING_FOR_*/UNDER_REVIEW/RESOLVED (+ dispute_outcome).
DISPUTE_OPEN = "open"             # the merchant must respond by `respond_by`
DISPUTE_UNDER_REVIEW = "under_review"  # evidence given (or none asked), the network decides
DISPUTE_WON = "won"               # the money stays with the merchant
DISPUTE_LOST = "lost"             # the money went back to the customer
DISPUTE_STATES = (DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, DISPUTE_LOST)


@dataclass(frozen=True)
class RefundRequest:
    """One refund to make: built by portal/payments/refunds.py, translated by the adapter."""

    payment_id: str                    # the gateway's id of the payment, as stored in Payment.payment_id:
                                       # Stripe PaymentIntent pi_..., Razorpay pay_..., PayPal capture id
    amount: Money                      # in the payment's currency, ISO minor units
    reference: str                     # our idempotency key, persisted before the call; <= 40 chars
    invoice_number: str = ""
    reason: str = ""                   # what staff wrote; sent as a note where the gateway takes one


@dataclass(frozen=True)
class GatewayRefund:
    """A refund as the gateway reports it, in our terms."""

    gateway: str
    refund_id: str                     # Stripe re_..., Razorpay rfnd_..., PayPal refund id
    payment_id: str                    # the payment it refunds (same id as Payment.payment_id)
    amount: Money
    status: str                        # one of REFUND_*
    reference: str | None = None       # our reference, when the gateway echoes it (metadata, receipt, invoice_id)
    reason: str = ""                   # the gateway's words for why it failed, or the note it carries
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GatewayDispute:
    """A dispute (chargeback) as the gateway reports it, in our terms."""

    gateway: str
    dispute_id: str                    # Stripe dp_..., Razorpay disp_..., PayPal PP-D-...
    payment_id: str                    # the disputed payment (same id as Payment.payment_id)
    amount: Money                      # the disputed amount
    status: str                        # one of DISPUTE_*
    reason: str = ""                   # the network's or customer's reason, as the gateway words it
    respond_by: datetime | None = None  # aware UTC: the merchant's deadline to respond
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


# What a webhook event means for us.
EVENT_PAID = "paid"                    # money arrived: apply `payment`
EVENT_PARTIALLY_PAID = "partially_paid"  # money arrived, link still open for the rest: apply `payment`
EVENT_APPROVED = "approved"            # PayPal: buyer approved, capture now (a background job)
EVENT_FAILED = "failed"                # a payment attempt failed; nothing to apply
EVENT_EXPIRED = "expired"              # the link lapsed
EVENT_CANCELLED = "cancelled"          # the link was cancelled
EVENT_IGNORED = "ignored"              # a genuine event we do not act on (still stored)
EVENT_REFUND = "refund"                # a refund was made or changed state: apply `refund`
# The payment's refunds changed but the event does not carry them (Stripe charge.refunded, whose charge lists
# no refunds in current API versions): ask the gateway for the refunds of `refunds_of` (list_refunds).
EVENT_REFUNDS_CHANGED = "refunds_changed"
EVENT_DISPUTE = "dispute"              # a dispute was opened, changed or closed: apply `dispute`


@dataclass(frozen=True)
class PaymentEvent:
    """A verified webhook event in our terms. Built by each adapter's pure `webhooks.py`."""

    gateway: str
    event_id: str                      # dedupe key: Stripe evt_…, Razorpay X-Razorpay-Event-Id, PayPal WH-…
    event_type: str                    # the gateway's own name, e.g. "checkout.session.completed"
    kind: str                          # one of EVENT_*
    link_id: str | None                # the link / session / order it is about
    reference: str | None = None       # our reference, when the event carries it (metadata, reference_id)
    payment: GatewayPayment | None = None  # for paid / partially_paid: THIS payment's id and amount
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # The id the gateway signed for this one delivery (PayPal's PAYPAL-TRANSMISSION-ID): good for one body only,
    # because PayPal's signature covers no more than a CRC-32 of it (ledger.claim_transmission).
    transmission_id: str | None = None
    # Our invoice id as the gateway itself reports it (PayPal's custom_id, Razorpay's notes), checked against
    # the link's invoice; for a failed payment that names no link, it finds the link.
    invoice_id: int | None = None
    failure: str = ""                  # for failed: the gateway's own words on why, e.g. "declined by the bank"
    refund: GatewayRefund | None = None    # for EVENT_REFUND
    dispute: GatewayDispute | None = None  # for EVENT_DISPUTE
    refunds_of: str | None = None      # for EVENT_REFUNDS_CHANGED: the payment id (Payment.payment_id)


class WebhookRejected(Exception):
    """A delivery that must not be acted on: bad or missing signature, stale or future timestamp,
    malformed body. The message says why (stored with the delivery; never shown to the sender)."""


# Kinds of failure, decided by each adapter's translate module from the SDK exception.
UNREACHABLE = "unreachable"    # connection refused / DNS: the request never arrived (safe to fail over)
TIMEOUT = "timeout"            # sent, no answer: it may have taken effect (look it up before anything else)
SERVER = "server"              # 5xx answer: did not take effect (safe to fail over, retryable)
RATE_LIMITED = "rate_limited"  # 429: retry after `retry_after`
CONFLICT = "conflict"          # 409 / concurrent request with the same key: retry, same key
REJECTED = "rejected"          # 4xx validation: never retried at this gateway
AUTH = "auth"                  # 401/403: credentials wrong; not retried
NOT_FOUND = "not_found"        # 404 on fetch/cancel
TRANSIENT_KINDS = frozenset({UNREACHABLE, TIMEOUT, SERVER, RATE_LIMITED, CONFLICT})
# Failures after which the request surely did not take effect, so another gateway may be asked.
NOT_APPLIED_KINDS = frozenset({UNREACHABLE, SERVER, RATE_LIMITED, REJECTED, AUTH, NOT_FOUND})


class GatewayError(Exception):
    """A gateway call failed; `kind` says what the engine may do next."""

    def __init__(self, gateway: str, kind: str, code: str, message: str, *,
                 status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{gateway}: {kind} {code}: {message}")
        self.gateway, self.kind, self.code, self.message = gateway, kind, code, message
        self.status, self.retry_after = status, retry_after

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS

    @property
    def surely_not_applied(self) -> bool:
        return self.kind in NOT_APPLIED_KINDS


class Gateway(ABC):
    """Base of every adapter. Facts are class attributes; verbs are methods."""

    name: ClassVar[str]                       # "razorpay", "stripe", "paypal"
    display_name: ClassVar[str]               # "Razorpay"
    customer_label: ClassVar[str]             # what a paying customer is shown: "UPI, cards and netbanking (Razorpay)"
    currencies: ClassVar[frozenset[str]]      # ISO codes it can take
    # Where the gateway's minor unit differs from ISO 4217 (e.g. Stripe ISK: 2 on the wire).
    exponent_overrides: ClassVar[Mapping[str, int]] = {}
    # Gateway amounts (in ITS minor units) must be a multiple of this, per currency (Stripe ISK: 100,
    # three-decimal currencies at Stripe and Razorpay: 10).
    amount_multiples: ClassVar[Mapping[str, int]] = {}
    # Smallest amount it accepts, in ISO minor units of that currency.
    min_amounts: ClassVar[Mapping[str, int]] = {}
    default_min_amount: ClassVar[int] = 1
    max_gateway_amount: ClassVar[int | None] = None  # in the gateway's minor units
    supports_partial: ClassVar[bool] = False
    # The configuration variables that must all be set for the gateway to count as configured, in the order
    # people set them; "Not configured: set ..." names the missing ones (portal/payments/health.py).
    required_config: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.log = logging.getLogger(f"portal.payments.{self.name}")

    # ---- facts -------------------------------------------------------------------------------------
    @classmethod
    def gateway_exponent(cls, currency: str) -> int:
        return cls.exponent_overrides.get(currency, exponent(currency))

    @classmethod
    def gateway_amount(cls, money: Money) -> int:
        """ISO minor units -> this gateway's integer units; exact or GatewayError(REJECTED)."""
        shift = cls.gateway_exponent(money.currency) - exponent(money.currency)
        if shift >= 0:
            return money.minor * 10**shift
        factor = 10**-shift
        if money.minor % factor:
            raise GatewayError(cls.name, REJECTED, "amount_precision",
                               f"{cls.display_name} takes {money.currency} only in whole units of {factor}")
        return money.minor // factor

    @classmethod
    def iso_amount(cls, gateway_minor: int, currency: str) -> Money:
        """This gateway's integer units -> Money in ISO minor units (exact)."""
        shift = cls.gateway_exponent(currency) - exponent(currency)
        if shift >= 0:
            if gateway_minor % 10**shift:
                raise ValueError(f"{cls.name} amount {gateway_minor} {currency} is not whole in ISO units")
            return Money(gateway_minor // 10**shift, currency)
        return Money(gateway_minor * 10**-shift, currency)

    @classmethod
    def cannot_take(cls, money: Money) -> str | None:
        """Why this gateway cannot take the amount, in words for staff; None when it can."""
        if money.currency not in cls.currencies:
            return f"{cls.display_name} does not take {money.currency}"
        minimum = cls.min_amounts.get(money.currency, cls.default_min_amount)
        if money.minor < minimum:
            return f"{cls.display_name} needs at least {Money(minimum, money.currency).format()}"
        try:
            units = cls.gateway_amount(money)
        except GatewayError as exc:
            return exc.message
        multiple = cls.amount_multiples.get(money.currency, 1)
        if units % multiple:
            return f"{cls.display_name} needs {money.currency} amounts in steps of {multiple} minor units"
        if cls.max_gateway_amount is not None and units > cls.max_gateway_amount:
            return f"{cls.display_name} cannot take an amount this large"
        return None

    @classmethod
    def is_configured(cls, config: Mapping[str, Any]) -> bool:
        """Whether the credentials this gateway needs are set (docs/configuration.md)."""
        return cls.settings_from(config) is not None

    @classmethod
    @abstractmethod
    def settings_from(cls, config: Mapping[str, Any]) -> GatewaySettings | None:
        """Build settings from the Flask config; None when the gateway is not configured."""

    @classmethod
    def configuration_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """Malformed (not missing) credentials, one line each, for start-up and `payments check`."""
        return []

    @classmethod
    def missing_config(cls, config: Mapping[str, Any]) -> list[str]:
        """The variables of `required_config` that are unset or empty."""
        return [name for name in cls.required_config if not config.get(name)]

    @property
    def test_mode(self) -> bool:
        """No real money moves through this adapter: test keys, the gateway's own sandbox, or a local API."""
        return self.test_mode_reason is not None

    @property
    def test_mode_reason(self) -> str | None:
        """Why this adapter is in test mode, in words for staff ("uses a test key (rzp_test_...)"); None when
        live. Adapters add their own key shapes; an API base on this machine (the sandbox) always counts."""
        if is_local_url(self.settings.api_base):
            return f"talks to a test server on this machine ({self.settings.api_base})"
        return None if self.settings.live else "uses test credentials"

    # ---- verbs -------------------------------------------------------------------------------------
    # Every verb takes `timeout` (seconds) for each HTTP call it makes, and raises GatewayError on
    # failure: never an SDK exception, never a bare requests exception.

    @abstractmethod
    def create_link(self, request: LinkRequest, timeout: float) -> GatewayLink:
        """Create a payment link / session / order for the request.

        Idempotent on `request.reference`: calling it again with the same reference (after a timeout)
        must not create a second link (Stripe Idempotency-Key, PayPal PayPal-Request-Id; Razorpay
        reference_id is unique, so a repeat answers REJECTED code `duplicate_reference`)."""

    @abstractmethod
    def find_link(self, request: LinkRequest, timeout: float) -> GatewayLink | None:
        """Look up the link created (or not) for `request.reference`, after an ambiguous failure.

        Never creates a new link that could take money twice: Stripe and PayPal replay the original
        create with the same idempotency key; Razorpay lists by reference_id."""

    @abstractmethod
    def fetch_link(self, link_id: str, timeout: float) -> GatewayLink:
        """The link's current state at the gateway (reconciliation, return pages)."""

    @abstractmethod
    def cancel_link(self, link_id: str, timeout: float) -> GatewayLink | None:
        """Make the link unpayable (Razorpay cancel, Stripe expire; PayPal: nothing to do, returns None).
        Already cancelled/expired is success. Raises GatewayError REJECTED if it was paid."""

    @abstractmethod
    def check_credentials(self, timeout: float) -> None:
        """One cheap authenticated call; GatewayError(AUTH) when the keys are refused."""

    # ---- money back: refunds (issue 12) -------------------------------------------------------------
    # Stripe POST /v1/refunds (payment_intent, Idempotency-Key), Razorpay POST /v1/payments/{id}/refund
    # (receipt = our reference; no idempotency key), PayPal POST /v2/payments/captures/{id}/refund
    # (PayPal-Request-Id, invoice_id = our reference).

    def create_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund:
        """Refund `request.amount` of the payment. Idempotent on `request.reference` where the gateway has
        idempotency keys (Stripe, PayPal: a repeat answers the first refund). Razorpay has none: the engine
        calls find_refund before it ever sends a create again after an ambiguous failure.
        Raises GatewayError; REJECTED with code `refund_exceeds_payment` when the gateway says the amount is
        more than is left of the payment, `payment_not_refundable` when it cannot be refunded at all."""
        raise NotImplementedError

    def find_refund(self, request: RefundRequest, timeout: float) -> GatewayRefund | None:
        """The refund made (or not) for `request.reference`, after an ambiguous failure; None when the gateway
        surely has none. Never creates one that would refund twice (Razorpay: the payment's refunds, matched on
        `receipt`; Stripe: the payment's refunds, matched on metadata.reference; PayPal: replay of the create
        under the same PayPal-Request-Id is the documented way, and is safe)."""
        raise NotImplementedError

    def fetch_refund(self, refund_id: str, payment_id: str, timeout: float) -> GatewayRefund:
        """The refund's current state (reconciliation of pending refunds)."""
        raise NotImplementedError

    def list_refunds(self, payment_id: str, timeout: float) -> list[GatewayRefund] | None:
        """Every refund of the payment, as the gateway reports it now; None when the gateway cannot list them
        (PayPal: its refund webhooks carry the refund itself)."""
        return None

    # ---- incoming: webhooks and return pages (issue 5) ----------------------------------------------

    def webhook_event_id(self, raw_body: bytes, headers: Mapping[str, str]) -> str | None:
        """The delivery's dedupe key, read before verification so even rejected deliveries are stored
        under it (Razorpay: the X-Razorpay-Event-Id header; Stripe/PayPal: the body's `id`). None when
        the delivery has none."""
        raise NotImplementedError

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], timeout: float,
                       received_at: datetime | None = None) -> PaymentEvent:
        """Verify the signature on the RAW bytes, then parse. Raises WebhookRejected (bad signature,
        timestamp out of tolerance, malformed body) — never anything else for bad input. May call the
        gateway (PayPal's verify-webhook-signature postback, certificate download) within `timeout`.
        `received_at`: when we received these bytes, if not now (an admin's Reprocess of a stored delivery);
        a signed timestamp's freshness is judged against that moment."""
        raise NotImplementedError

    def attempt_declined(self, link: GatewayLink) -> bool:
        """Whether this unpaid link shows a payment the customer tried and the gateway refused (Stripe: an
        open session that already has a PaymentIntent). False when the gateway cannot tell."""
        return False

    def verify_return(self, params: Mapping[str, str], link_id: str, timeout: float) -> GatewayLink:
        """The customer came back to our return URL with `params` (query string). Never trust them:
        verify (Razorpay: the SDK's verify_payment_link_signature) and ask the gateway for the truth
        (fetch / retrieve; PayPal: capture the approved order). Returns the link as the gateway now
        reports it, with `payments`. Raises WebhookRejected for forged params, GatewayError on I/O."""
        raise NotImplementedError
