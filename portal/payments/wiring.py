"""The engine's per-app set-up: a word about gateways configured wrongly, and the one shared circuit breaker."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app

from . import registry
from .breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore, Rule


def init_app(app) -> None:
    # Missing credentials just leave a gateway unconfigured; malformed ones get one clear line.
    for cls in registry.all_classes().values():
        for problem in cls.configuration_problems(app.config):
            app.logger.warning("%s: %s", cls.display_name, problem)
    if app.config.get("REDIS_URL"):
        import redis

        store = RedisBreakerStore(redis.Redis.from_url(app.config["REDIS_URL"]))
    else:
        store = MemoryBreakerStore()
    app.extensions["hisabpro.breaker"] = CircuitBreaker(store, Rule.from_config(app.config))


def breaker() -> CircuitBreaker:
    return current_app.extensions["hisabpro.breaker"]


def seconds(name: str) -> float:
    """A duration setting (a decimal string in the config) as float seconds."""
    return float(Decimal(current_app.config[name]))
