"""Payment statistics, computed from the attempt log and link tables, so they hold across workers and
restarts (docs/endpoints.md: GET /api/v1/payments/statistics, GET /api/v1/gateways)."""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..models import GatewayAttempt, LinkClick, Payment, PaymentLink, WebhookDelivery
from ..money import Money
from . import registry, routing
from .engine import breaker

LATENCY_WINDOW = 1000  # the most recent create calls per gateway that latency is measured over


def _percentile(sorted_values: list[int], fraction: float) -> int | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _rate(part: int, whole: int) -> float | None:
    # A ratio for display, not money: a float is fine here.
    return round(part / whole, 4) if whole else None


def gateway_health(name: str) -> dict:
    cls = registry.gateway_class(name)
    config = current_app.config
    settings = routing.settings_by_name()
    creates = db.select(GatewayAttempt).where(GatewayAttempt.gateway == name, GatewayAttempt.operation == "create")
    calls = db.session.scalar(db.select(db.func.count()).select_from(creates.subquery()))
    successes = db.session.scalar(db.select(db.func.count()).select_from(
        creates.where(GatewayAttempt.outcome == "success").subquery()))
    durations = sorted(db.session.scalars(
        db.select(GatewayAttempt.duration_ms).where(GatewayAttempt.gateway == name,
                                                    GatewayAttempt.operation == "create",
                                                    GatewayAttempt.outcome == "success")
        .order_by(GatewayAttempt.id.desc()).limit(LATENCY_WINDOW)))
    last_error = db.session.scalars(
        db.select(GatewayAttempt).where(GatewayAttempt.gateway == name, GatewayAttempt.outcome == "failure")
        .order_by(GatewayAttempt.id.desc()).limit(1)).first()
    adapter = registry.get_gateway(name, config)
    return {
        "name": name,
        "display_name": cls.display_name,
        "configured": adapter is not None,
        "enabled": name not in settings or settings[name].enabled,
        "test_mode": adapter.test_mode if adapter is not None else None,
        "breaker": routing.breaker_state(name, breaker(), settings),
        "breaker_forced": settings[name].forced_breaker if name in settings else None,
        "calls": calls,
        "success_rate": _rate(successes, calls),
        "latency_ms": {"p50": _percentile(durations, 0.5), "p95": _percentile(durations, 0.95)},
        "last_error": None if last_error is None else {
            "at": last_error.created_at.isoformat(), "kind": last_error.error_kind,
            "code": last_error.error_code, "message": last_error.message},
        "last_webhook_at": _iso(db.session.scalar(
            db.select(db.func.max(WebhookDelivery.received_at)).where(WebhookDelivery.gateway == name,
                                                                       WebhookDelivery.verified.is_(True)))),
    }


def _iso(value):
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite's max() hands back a naive UTC value
        from datetime import timezone
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def get_payment_statistics() -> dict:
    names = list(registry.GATEWAY_CLASSES)
    health = {name: gateway_health(name) for name in names}
    count = lambda stmt: db.session.scalar(db.select(db.func.count()).select_from(stmt.subquery()))  # noqa: E731
    clicks = db.select(LinkClick)
    cache_hits = count(clicks.where(LinkClick.outcome == "reused"))
    cache_misses = count(clicks.where(LinkClick.outcome.in_(("created", "failed"))))
    retries_q = db.select(GatewayAttempt).where(GatewayAttempt.operation == "create", GatewayAttempt.attempt > 1)
    retries = count(retries_q)
    retry_successes = count(retries_q.where(GatewayAttempt.outcome == "success"))
    collected: dict[str, str] = {}
    for currency, paid in db.session.execute(
            db.select(Payment.currency, db.func.sum(Payment.amount_minor)).group_by(Payment.currency)):
        collected[currency] = Money(int(paid), currency).decimal_string()
    return {
        "total_gateways": len(names),
        "configured_gateways": sum(1 for h in health.values() if h["configured"]),
        "enabled_gateways": sum(1 for h in health.values() if h["configured"] and h["enabled"]),
        "links_created": count(clicks.where(LinkClick.outcome == "created")),
        "links_failed": count(clicks.where(LinkClick.outcome == "failed")),
        "links_paid": count(db.select(PaymentLink).where(PaymentLink.status == "paid")),
        "cache_hits": cache_hits,
        "cache_misses": cache_misses,
        "cache_hit_rate": _rate(cache_hits, cache_hits + cache_misses),
        "retries": retries,
        "retry_successes": retry_successes,
        "retry_success_rate": _rate(retry_successes, retries),
        "fallbacks": count(clicks.where(LinkClick.fallback.is_(True))),
        "by_gateway": {name: {k: h[k] for k in ("calls", "success_rate", "latency_ms", "breaker", "enabled",
                                                  "configured")} for name, h in health.items()},
        "collected": collected,
    }
