"""Each gateway's state, defined once: the Gateways page, Home, `GET /api/v1/gateways` and `payments check`
all say what `decide` says.

    Not configured: set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET      (a variable of required_config is unset)
    Switched off by an admin; INR payments go through Stripe         (GatewaySetting.enabled is false)
    Down since 10:42 (12 failed calls); INR payments go through Stripe
                                                                     (the breaker, as the router reads it, is open)
    Recovering: the next payment tests it                            (half-open: one probe call is let through)
    Slow: answers in 2.4 s                                           (median of recent successful calls >= GATEWAY_SLOW_MS)
    Working

The first rule that holds wins, in that order. `decide` and `where_payments_go` are pure (facts in, words
out; tests/unit/test_gateway_health.py); `gather` and `report` read the facts from configuration, the
admin's settings, the breaker and the attempt log, the same sources the router acts on, so the sentence never
disagrees with where a customer's payment actually goes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Mapping

from flask import current_app
from sqlalchemy import or_

from ..extensions import db
from ..models import GatewayAttempt, Payment, PaymentLink, WebhookDelivery
from ..models.payments import LIVE_STATUSES
from . import registry, routing
from .breaker import CLOSED, HALF_OPEN, OPEN
from .engine import ERROR_WORDS, breaker

WORKING, SLOW, DOWN, RECOVERING, SWITCHED_OFF, NOT_CONFIGURED = (
    "working", "slow", "down", "recovering", "off", "not_configured")
STATES = (WORKING, SLOW, DOWN, RECOVERING, SWITCHED_OFF, NOT_CONFIGURED)

WINDOW = timedelta(hours=1)   # "the last hour": success rate, latency and the Slow rule look this far back
SLOW_SAMPLE = 20              # the Slow rule reads the median of at most this many recent successful calls ...
SLOW_MIN_CALLS = 3            # ... and needs at least this many, so one slow call does not make a gateway Slow
EVERY_OTHER = "*"             # routing's key for currencies without a rule of their own


# ---- the pure part ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class GatewayFacts:
    """What is known about one gateway now; everything `decide` needs, nothing it must look up."""

    name: str
    display_name: str
    currencies: frozenset[str] = frozenset()
    missing_config: tuple[str, ...] = ()      # required variables that are unset; empty: configured
    enabled: bool = True                      # the admin's switch
    breaker: str = CLOSED                     # as the router reads it: an admin's forced state wins
    breaker_forced: str | None = None         # "open" / "closed" when an admin forced it
    down_since: datetime | None = None        # first failure of the current run (aware), or when forced open
    failed_calls: int = 0                     # failed calls since the last success
    recent_median_ms: int | None = None       # median of recent successful calls (SLOW_SAMPLE, within WINDOW)
    recent_successes: int = 0                 # how many calls that median is over

    @property
    def configured(self) -> bool:
        return not self.missing_config

    @property
    def usable(self) -> bool:
        """Would the router send a payment here now (currency and amount aside)? Half-open counts: the next
        payment probes it."""
        return self.configured and self.enabled and self.breaker != OPEN


@dataclass(frozen=True)
class Health:
    state: str                 # one of STATES
    sentence: str              # for people, first thing shown: "Down since 10:42 (12 failed calls); ..."
    since: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.state in (WORKING, SLOW)


def clock(moment: datetime, zone: tzinfo, now: datetime) -> str:
    """10:42 today, else 1 Dec 10:42, in the merchant's time zone."""
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local:%b %H:%M}"


def _and(words: list[str], conjunction: str = "and") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def where_payments_go(name: str, facts: Mapping[str, GatewayFacts],
                      routes: Mapping[str, list[str]]) -> list[tuple[str, str | None]]:
    """The payments that would go to `name` if it worked, and who takes them now: for each routing key
    (currency, or '*' for every other one) in which no usable gateway comes before it, the display name of the
    first usable gateway after it that takes that currency, or None when none can."""
    me = facts[name]

    def takes(other: GatewayFacts, currency: str) -> bool:
        return bool(other.currencies & me.currencies) if currency == EVERY_OTHER else currency in other.currencies

    answer = []
    for currency, order in routes.items():
        if name not in order or (currency != EVERY_OTHER and currency not in me.currencies):
            continue
        position = order.index(name)
        before = [facts[o] for o in order[:position] if o in facts]
        if any(o.usable and takes(o, currency) for o in before):
            continue  # these payments were not coming here anyway
        after = [facts[o] for o in order[position + 1:] if o in facts]
        target = next((o.display_name for o in after if o.usable and takes(o, currency)), None)
        answer.append((currency, target))
    return answer


def _payments_phrase(routes_to: list[tuple[str, str | None]]) -> str:
    """"INR payments go through Stripe; payments in USD and other currencies go through PayPal"."""
    groups: dict[str | None, list[str]] = {}
    for currency, target in routes_to:
        groups.setdefault(target, []).append(currency)
    parts = []
    for target, currencies in groups.items():
        named = [c for c in currencies if c != EVERY_OTHER]
        if EVERY_OTHER in currencies:
            what = ("payments in " + _and(named, "and") + " and other currencies") if named else \
                "payments in other currencies"
        else:
            what = _and(named) + " payments"
        if target is None:
            parts.append("nothing can take " + what.replace(" and other", " or other"))
        else:
            parts.append(f"{what} go through {target}")
    return "; ".join(parts)


def decide(facts: GatewayFacts, routes_to: list[tuple[str, str | None]], *, slow_ms: int, zone: tzinfo,
           now: datetime) -> Health:
    """The one definition of a gateway's state (module docstring). `routes_to` is where_payments_go()."""
    if facts.missing_config:
        return Health(NOT_CONFIGURED, "Not configured: set " + _and(list(facts.missing_config)))
    elsewhere = _payments_phrase(routes_to)
    tail = f"; {elsewhere}" if elsewhere else ""
    if not facts.enabled:
        return Health(SWITCHED_OFF, "Switched off by an admin" + tail)
    if facts.breaker == OPEN:
        words = "Down"
        if facts.down_since is not None:
            words += f" since {clock(facts.down_since, zone, now)}"
        if facts.breaker_forced == OPEN:
            words += " (held down by an admin)"
        elif facts.failed_calls:
            words += f" ({facts.failed_calls} failed call{'s' if facts.failed_calls != 1 else ''})"
        return Health(DOWN, words + tail, facts.down_since)
    if facts.breaker == HALF_OPEN:
        return Health(RECOVERING, "Recovering: the next payment tests it", facts.down_since)
    if (facts.recent_median_ms is not None and facts.recent_successes >= SLOW_MIN_CALLS
            and facts.recent_median_ms >= slow_ms):
        return Health(SLOW, f"Slow: answers in {facts.recent_median_ms / 1000:.1f} s")
    return Health(WORKING, "Working")


def decide_all(facts: Mapping[str, GatewayFacts], routes: Mapping[str, list[str]], *, slow_ms: int,
               zone: tzinfo, now: datetime) -> dict[str, Health]:
    return {name: decide(f, where_payments_go(name, facts, routes), slow_ms=slow_ms, zone=zone, now=now)
            for name, f in facts.items()}


# ---- reading the facts -----------------------------------------------------------------------------

def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite aggregates hand back naive UTC values
        return value.replace(tzinfo=timezone.utc)
    return value


def _median(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) // 2


def _percentile(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def gather(now: datetime | None = None) -> dict[str, GatewayFacts]:
    """The facts of every gateway, in registry order."""
    now = now or datetime.now(timezone.utc)
    config = current_app.config
    settings = routing.settings_by_name()
    circuit = breaker()
    states = routing.breaker_states(list(registry.all_classes()), circuit, settings)
    facts = {}
    for name, cls in registry.all_classes().items():
        setting = settings.get(name)
        missing = cls.missing_config(config)
        state = states[name]
        forced = setting.forced_breaker if setting is not None else None
        down_since, failed = None, 0
        if not missing and state != CLOSED:
            last_success = db.session.scalar(db.select(db.func.max(GatewayAttempt.id)).where(
                GatewayAttempt.gateway == name, GatewayAttempt.outcome == "success"))
            failures = db.select(GatewayAttempt).where(GatewayAttempt.gateway == name,
                                                       GatewayAttempt.outcome == "failure",
                                                       GatewayAttempt.id > (last_success or 0))
            failed = db.session.scalar(db.select(db.func.count()).select_from(failures.subquery())) or 0
            first = db.session.scalars(failures.order_by(GatewayAttempt.id).limit(1)).first()
            if forced == OPEN:
                down_since = _aware(setting.updated_at)
            elif first is not None:
                down_since = _aware(first.created_at)
            else:
                opened_at = circuit.opened_at(name)
                down_since = datetime.fromtimestamp(opened_at, timezone.utc) if opened_at is not None else None
        recent = list(db.session.scalars(
            db.select(GatewayAttempt.duration_ms).where(
                GatewayAttempt.gateway == name, GatewayAttempt.outcome == "success",
                GatewayAttempt.created_at >= now - WINDOW)
            .order_by(GatewayAttempt.id.desc()).limit(SLOW_SAMPLE))) if not missing else []
        facts[name] = GatewayFacts(
            name=name, display_name=cls.display_name, currencies=frozenset(cls.currencies),
            missing_config=tuple(missing), enabled=setting is None or setting.enabled,
            breaker=state, breaker_forced=forced, down_since=down_since, failed_calls=failed,
            recent_median_ms=_median(recent), recent_successes=len(recent))
    return facts


def current(zone: tzinfo = timezone.utc, now: datetime | None = None) -> dict[str, Health]:
    """Every gateway's Health now, in registry order; times in `zone` (the merchant's: merchant_settings().zone)."""
    now = now or datetime.now(timezone.utc)
    return decide_all(gather(now), routing.routes(), slow_ms=current_app.config["GATEWAY_SLOW_MS"], zone=zone,
                      now=now)


# ---- the folded details on the Gateways page ---------------------------------------------------------

@dataclass
class Details:
    breaker: str
    breaker_forced: str | None
    next_probe_at: datetime | None          # when an automatically opened breaker lets one call through
    calls: int                              # in the last hour
    success_rate: float | None              # a ratio for display, not money
    p50_ms: int | None
    p95_ms: int | None
    last_error_at: datetime | None = None
    last_error: str | None = None           # in words: "could not be reached (connection_refused)"
    last_webhook_at: datetime | None = None
    last_payment_at: datetime | None = None
    last_payment_source: str | None = None  # webhook, return, reconcile
    webhook_lag_seconds: int | None = None  # from the latest payment being recorded to its verified webhook
    open_links: int = 0
    test_mode: str | None = None            # why no real money moves, or None


@dataclass
class GatewayReport:
    name: str
    display_name: str
    health: Health
    facts: GatewayFacts
    details: Details | None = field(default=None)


def report(zone: tzinfo = timezone.utc, now: datetime | None = None) -> list[GatewayReport]:
    """Everything the Gateways page shows, per gateway: the sentence and the folded details."""
    now = now or datetime.now(timezone.utc)
    facts = gather(now)
    healths = decide_all(facts, routing.routes(), slow_ms=current_app.config["GATEWAY_SLOW_MS"], zone=zone,
                         now=now)
    return [GatewayReport(name, f.display_name, healths[name], f, _details(name, f, now))
            for name, f in facts.items()]


def _details(name: str, facts: GatewayFacts, now: datetime) -> Details:
    circuit = breaker()
    next_probe = None
    if facts.breaker == OPEN and facts.breaker_forced is None:
        opened_at = circuit.opened_at(name)
        if opened_at is not None:
            next_probe = datetime.fromtimestamp(opened_at + circuit.cooldown, timezone.utc)
    hour = db.session.execute(
        db.select(GatewayAttempt.outcome, GatewayAttempt.duration_ms)
        .where(GatewayAttempt.gateway == name, GatewayAttempt.created_at >= now - WINDOW)
        .where(GatewayAttempt.outcome.in_(("success", "failure")))).all()
    good = [ms for outcome, ms in hour if outcome == "success"]
    details = Details(breaker=facts.breaker, breaker_forced=facts.breaker_forced, next_probe_at=next_probe,
                      calls=len(hour), success_rate=round(len(good) / len(hour), 4) if hour else None,
                      p50_ms=_percentile(good, 0.5), p95_ms=_percentile(good, 0.95))
    error = db.session.scalars(db.select(GatewayAttempt).where(
        GatewayAttempt.gateway == name, GatewayAttempt.outcome == "failure")
        .order_by(GatewayAttempt.id.desc()).limit(1)).first()
    if error is not None:
        details.last_error_at = _aware(error.created_at)
        words = ERROR_WORDS.get(error.error_kind or "", error.error_kind or "failed")
        details.last_error = f"{words} ({error.error_code})" if error.error_code else words
    details.last_webhook_at = _aware(db.session.scalar(
        db.select(db.func.max(WebhookDelivery.received_at)).where(WebhookDelivery.gateway == name,
                                                                   WebhookDelivery.verified.is_(True))))
    payment = db.session.scalars(db.select(Payment).where(Payment.gateway == name)
                                 .order_by(Payment.received_at.desc(), Payment.id.desc()).limit(1)).first()
    if payment is not None:
        recorded = _aware(payment.received_at)
        details.last_payment_at, details.last_payment_source = recorded, payment.source
        # The payment's own webhook: the first verified delivery about its invoice from that moment on (a
        # delivery that brought the payment is stored a moment before the payment row itself).
        delivered = _aware(db.session.scalar(
            db.select(db.func.min(WebhookDelivery.received_at)).where(
                WebhookDelivery.gateway == name, WebhookDelivery.verified.is_(True),
                WebhookDelivery.invoice_id == payment.invoice_id,
                WebhookDelivery.received_at >= recorded - timedelta(minutes=1))))
        if delivered is not None:
            details.webhook_lag_seconds = max(0, int((delivered - recorded).total_seconds()))
    details.open_links = db.session.scalar(db.select(db.func.count(PaymentLink.id)).where(
        PaymentLink.gateway == name, PaymentLink.status.in_(LIVE_STATUSES),
        or_(PaymentLink.expires_at.is_(None), PaymentLink.expires_at > now))) or 0
    adapter = registry.get_gateway(name, current_app.config)
    details.test_mode = adapter.test_mode_reason if adapter is not None else None
    return details


def gateways_in_test_mode() -> list[tuple[str, str]]:
    """(display name, why) for each configured gateway in test mode: the staff banner (templates/base.html)."""
    found = []
    for name, cls in registry.all_classes().items():
        adapter = registry.get_gateway(name, current_app.config)
        if adapter is not None and adapter.test_mode_reason:
            found.append((cls.display_name, adapter.test_mode_reason))
    return found
