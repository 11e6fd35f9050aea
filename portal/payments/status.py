"""Each gateway's state in one plain sentence, for Home: "Razorpay: Working", "Stripe: Down since 10:42
(5 failed calls); payments in USD and other currencies go through PayPal", "PayPal: Not configured: set
PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET".

The state and its words come from portal/payments/health.py, the one definition the Gateways page, the API
and `payments check` use too; this module only puts the gateway's name in front.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from . import health
from .health import DOWN, NOT_CONFIGURED, RECOVERING, SLOW, SWITCHED_OFF, WORKING  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class GatewayLine:
    name: str
    display_name: str
    state: str                 # one of health.STATES
    since: datetime | None     # when it went down (aware), if known
    text: str                  # the whole line, "Stripe: Down since 10:42 (5 failed calls); ..."
    sentence: str = ""         # the same without the name: health.Health.sentence

    @property
    def ok(self) -> bool:
        return self.state in (WORKING, SLOW)


def gateway_lines(zone: tzinfo = timezone.utc) -> list[GatewayLine]:
    """One line per gateway the portal knows, in registry order; times are shown in `zone`."""
    from . import registry

    states = health.current(zone)
    classes = registry.all_classes()
    return [GatewayLine(name, classes[name].display_name, h.state, h.since,
                        f"{classes[name].display_name}: {h.sentence}", h.sentence)
            for name, h in states.items()]
