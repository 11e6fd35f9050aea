"""Which gateways may take an amount, in which order, and why.

candidates = configured ∩ enabled ∩ can take the currency and amount ∩ breaker not open, ordered by the
currency's priority list (admins edit it; defaults below, from GATEWAY-FACTS "Consequences for routing").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..extensions import db
from ..models import GatewaySetting, RoutingRule
from ..money import Money
from . import admin_settings, registry
from .base import Gateway
from .breaker import CLOSED, OPEN, CircuitBreaker

DEFAULT_PRIORITIES: dict[str, list[str]] = {
    "INR": ["razorpay", "stripe"],           # PayPal takes no INR
    "USD": ["stripe", "paypal", "razorpay"],
    "*": ["stripe", "paypal", "razorpay"],   # every other currency
}


class RoutingError(ValueError):
    """The request asked for a gateway that cannot be used; the message says why, for people."""


@dataclass(frozen=True)
class Candidate:
    gateway: Gateway
    why: str
    closed: bool = False  # its breaker was closed (or forced closed) when the plan was made

    @property
    def name(self) -> str:
        return self.gateway.name


@dataclass(frozen=True)
class Skipped:
    name: str
    why: str


def priority_for(currency: str, rules: Mapping[str, list[str]] | None = None) -> list[str]:
    """`rules`: currency -> order, when the caller holds them (a click's cached snapshot); else read now."""
    if rules is None:
        rules = {r.currency: r.order for r in db.session.scalars(
            db.select(RoutingRule).where(RoutingRule.currency.in_([currency, "*"])))}
    order = rules.get(currency) or DEFAULT_PRIORITIES.get(currency) or rules.get("*") or DEFAULT_PRIORITIES["*"]
    return [name for name in order if name in registry.GATEWAY_CLASSES]


def routes() -> dict[str, list[str]]:
    """Every currency with a priority list (defaults, then admins' rules over them), '*' last."""
    rules = {r.currency: r.order for r in db.session.scalars(db.select(RoutingRule))}
    merged = {**DEFAULT_PRIORITIES, **rules}
    return {currency: [n for n in order if n in registry.GATEWAY_CLASSES]
            for currency, order in sorted(merged.items(), key=lambda item: (item[0] == "*", item[0]))}


def settings_by_name() -> dict[str, GatewaySetting]:
    return {s.name: s for s in db.session.scalars(db.select(GatewaySetting))}


def _forced(name: str, settings: Mapping[str, GatewaySetting]) -> str | None:
    return settings[name].forced_breaker if name in settings else None


def breaker_state(name: str, breaker: CircuitBreaker, settings: Mapping[str, GatewaySetting]) -> str:
    """The breaker as callers must treat it: an admin's forced state wins over the automatic one."""
    return _forced(name, settings) or breaker.state(name)


def breaker_states(names: list[str], breaker: CircuitBreaker, settings: Mapping[str, GatewaySetting]) -> dict[str, str]:
    """breaker_state for several gateways from one read of the breaker store (one Redis round trip)."""
    automatic = breaker.states([name for name in names if not _forced(name, settings)])
    return {name: _forced(name, settings) or automatic[name] for name in names}


def breaker_admits(name: str, breaker: CircuitBreaker, settings: Mapping[str, GatewaySetting]) -> bool:
    """May a call go out now? Forced states win; in half-open only one caller gets the probe."""
    forced = _forced(name, settings)
    return forced == "closed" if forced else breaker.allow(name)


def plan(amount: Money, config: Mapping, breaker: CircuitBreaker, requested: str | None = None,
         settings: Mapping[str, GatewaySetting] | None = None,
         rules: Mapping[str, list[str]] | None = None) -> tuple[list[Candidate], list[Skipped]]:
    """`settings` and `rules`: the admins' choices when the caller holds them (a click's snapshot); by
    default the snapshot this process keeps (admin_settings), reloaded only after an admin changes them."""
    if settings is None or rules is None:
        snapshot = admin_settings.current()
        settings = snapshot.settings if settings is None else settings
        rules = snapshot.rules if rules is None else rules
    order = priority_for(amount.currency, rules)
    if requested:
        if requested not in registry.GATEWAY_CLASSES:
            raise RoutingError(f"There is no gateway called {requested[:40]!r}.")
        reason = _unusable(requested, amount, config, settings)
        if reason:
            raise RoutingError(reason)
        order = [requested] + [name for name in order if name != requested]
    candidates, skipped = [], []
    states = breaker_states(order, breaker, settings)
    for position, name in enumerate(order):
        reason = _unusable(name, amount, config, settings)
        if reason is None and states[name] == OPEN:
            reason = f"{registry.gateway_class(name).display_name} is failing (circuit breaker open)"
        if reason:
            skipped.append(Skipped(name, reason))
            continue
        gateway = registry.get_gateway(name, config)
        if requested == name:
            why = "requested"
        elif position == 0:
            why = f"first choice for {amount.currency}"
        else:
            why = f"choice {position + 1} for {amount.currency}"
        candidates.append(Candidate(gateway, why, closed=states[name] == CLOSED))
    return candidates, skipped


def _unusable(name: str, amount: Money, config: Mapping, settings: Mapping[str, GatewaySetting]) -> str | None:
    cls = registry.gateway_class(name)
    if not cls.is_configured(config):
        return f"{cls.display_name} is not configured"
    if name in settings and not settings[name].enabled:
        return f"{cls.display_name} is switched off by an admin"
    return cls.cannot_take(amount)
