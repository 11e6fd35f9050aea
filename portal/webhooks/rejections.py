"""Deliveries that failed verification, counted per client address on the rate limiter's storage (Redis when
REDIS_URL is set, so every worker sees the same count).

Only failures are counted: a gateway whose deliveries verify never adds to its address's count, and even
past the limit a delivery is still verified (and applied) before it is refused, so a forger sharing a
gateway's address cannot slow the gateway down.
"""
from __future__ import annotations

import logging
import math
import time

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from ..extensions import limiter

log = logging.getLogger("portal.webhooks")
NAMESPACE = "webhook-rejections"


def _window():
    # A moving window: the address is let in again as its oldest failure ages out.
    return MovingWindowRateLimiter(limiter.storage), parse(current_app.config["WEBHOOK_REJECTED_LIMIT"])


def client_address() -> str:
    return get_remote_address()  # after ProxyFix, which trusts only TRUSTED_PROXY_COUNT proxies


def admit(address: str) -> bool:
    """Count one more failed delivery from the address, in one round trip; False once the address has used
    its WEBHOOK_REJECTED_LIMIT (that delivery is not counted, and not stored). True when the storage cannot
    be reached: a Redis outage must not cost genuine deliveries (and a forgery is still cut down to its first
    bytes, so the database stays safe)."""
    strategy, item = _window()
    try:
        admitted = strategy.hit(item, NAMESPACE, address)
    except Exception as exc:  # redis-py, limits: whatever the storage raises
        log.warning("webhook rejection count unavailable (%s): not limiting", type(exc).__name__)
        return True
    return admitted  # a burst of rejections shows under Needs attention (WEBHOOK_REJECTED_BURST), not per line


def retry_after(address: str) -> int:
    """Whole seconds until the address's oldest counted failure ages out."""
    strategy, item = _window()
    reset_at = strategy.get_window_stats(item, NAMESPACE, address).reset_time
    return max(1, math.ceil(reset_at - time.time()))
