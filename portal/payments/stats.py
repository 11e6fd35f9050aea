"""Each gateway's all-time figures for GET /api/v1/gateways (docs/endpoints.md), from the attempt log, so they
hold across workers and restarts. Statistics for a period: portal/statistics/numbers.py."""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..models import GatewayAttempt, WebhookDelivery
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
