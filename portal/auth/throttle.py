"""Per-account sign-in throttling on the rate limiter's storage (Redis when REDIS_URL is set).

Failures are counted per email address whether or not an account exists, so the lock itself
says nothing about which addresses are registered.
"""
from flask import current_app
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from ..extensions import limiter

NAMESPACE = "login-failures"


def _window():
    # A moving window: the lock lifts as the oldest failure ages out, not at a clock boundary.
    return MovingWindowRateLimiter(limiter.storage), parse(current_app.config["LOGIN_ACCOUNT_LIMIT"])


def is_locked(email: str) -> bool:
    strategy, item = _window()
    return not strategy.test(item, NAMESPACE, email)


def record_failure(email: str) -> None:
    strategy, item = _window()
    strategy.hit(item, NAMESPACE, email)


def clear(email: str) -> None:
    strategy, item = _window()
    strategy.clear(item, NAMESPACE, email)
