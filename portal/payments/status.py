"""Each gateway's state in one plain sentence, for people: "Razorpay: working", "Stripe: down since 10:42,
payments go through PayPal", "PayPal: not configured". Home shows these; any page may reuse them.

Built from the same facts the router acts on (configuration, the admin's switch, the breaker with an admin's
forced state winning), so the sentence never disagrees with where a customer's payment actually goes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from flask import current_app

from . import registry, routing
from .breaker import HALF_OPEN, OPEN
from .engine import breaker

WORKING, DOWN, RECOVERING, SWITCHED_OFF, NOT_CONFIGURED = "working", "down", "recovering", "off", "not_configured"


@dataclass(frozen=True)
class GatewayLine:
    name: str
    display_name: str
    state: str                 # one of the constants above
    since: datetime | None     # when it went down (aware), if known
    text: str                  # the whole sentence, "Stripe: down since 10:42, payments go through PayPal"

    @property
    def ok(self) -> bool:
        return self.state == WORKING


def _clock(moment: datetime, zone: tzinfo, now: datetime) -> str:
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local:%b %H:%M}"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def gateway_lines(zone: tzinfo = timezone.utc) -> list[GatewayLine]:
    """One line per gateway the portal knows, in registry order; times are shown in `zone`."""
    config = current_app.config
    settings = routing.settings_by_name()
    circuit = breaker()
    classes = registry.all_classes()
    now = datetime.now(timezone.utc)
    states: dict[str, tuple[str, datetime | None]] = {}
    for name, cls in classes.items():
        if not cls.is_configured(config):
            states[name] = (NOT_CONFIGURED, None)
        elif name in settings and not settings[name].enabled:
            states[name] = (SWITCHED_OFF, settings[name].updated_at)
        else:
            state = routing.breaker_state(name, circuit, settings)
            if state == OPEN:
                forced = name in settings and settings[name].forced_breaker == OPEN
                _, opened_at = circuit.store.snapshot(name)
                since = settings[name].updated_at if forced else (
                    datetime.fromtimestamp(opened_at, timezone.utc) if opened_at is not None else None)
                states[name] = (DOWN, since)
            else:
                states[name] = (RECOVERING if state == HALF_OPEN else WORKING, None)

    lines = []
    for name, cls in classes.items():
        state, since = states[name]
        if state == NOT_CONFIGURED:
            words = "not configured"
        elif state == WORKING:
            words = "working"
        elif state == RECOVERING:
            words = "recovering: the next payment tests it"
        else:
            words = ("switched off by an admin" if state == SWITCHED_OFF else "down") + (
                f" since {_clock(since, zone, now)}" if since else "")
            stand_ins = [classes[other].display_name for other, (other_state, _) in states.items()
                         if other != name and other_state in (WORKING, RECOVERING)
                         and cls.currencies & classes[other].currencies]
            words += (f", payments go through {_names(stand_ins)}" if stand_ins
                      else ", no other gateway can take its payments")
        lines.append(GatewayLine(name, cls.display_name, state, since, f"{cls.display_name}: {words}"))
    return lines
