"""Which gateways exist. Adding one is a new package under portal/payments/ and one line here."""
from __future__ import annotations

import threading
from importlib import import_module
from typing import Mapping

from .base import Gateway

GATEWAY_CLASSES: dict[str, str] = {
    "razorpay": "portal.payments.razorpay:RazorpayGateway",
    "stripe": "portal.payments.stripe:StripeGateway",
    "paypal": "portal.payments.paypal:PayPalGateway",
}

_instances: dict[tuple, Gateway] = {}
_lock = threading.Lock()


def gateway_class(name: str) -> type[Gateway]:
    module, _, attr = GATEWAY_CLASSES[name].partition(":")
    return getattr(import_module(module), attr)


def all_classes() -> dict[str, type[Gateway]]:
    return {name: gateway_class(name) for name in GATEWAY_CLASSES}


def get_gateway(name: str, config: Mapping) -> Gateway | None:
    """The process-wide adapter for `name` under this configuration (None: not configured).

    Adapters hold their SDK clients and HTTP sessions, so building each once per process is what gives
    connection pooling; a change of credentials or base URL builds a new one.
    """
    cls = gateway_class(name)
    settings = cls.settings_from(config)
    if settings is None:
        return None
    key = (name, settings)
    with _lock:
        gateway = _instances.get(key)
        if gateway is None:
            gateway = _instances[key] = cls(settings)
        return gateway


def configured_gateways(config: Mapping) -> dict[str, Gateway]:
    return {name: gw for name in GATEWAY_CLASSES if (gw := get_gateway(name, config)) is not None}
