"""Gateway health for staff, live (statistics: portal/statistics); switches, breakers and routing for admins."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth import admin_required
from ..extensions import db
from ..models import AuditEvent, GatewaySetting, Invoice, RoutingRule
from ..money import MoneyError, normalize_currency
from ..payments import engine, registry, routing, stats
from ..payments.reconcile import open_mismatches
from . import bp


def _setting(name: str) -> GatewaySetting:
    if name not in registry.GATEWAY_CLASSES:
        abort(404, "There is no such gateway.")
    setting = db.session.get(GatewaySetting, name)
    if setting is None:
        setting = GatewaySetting(name=name, enabled=True)
        db.session.add(setting)
    return setting


def _context() -> dict:
    rules = {r.currency: r.order for r in db.session.scalars(db.select(RoutingRule))}
    routes = {**{c: order for c, order in routing.DEFAULT_PRIORITIES.items()}, **rules}
    return {
        "health": [stats.gateway_health(name) for name in registry.GATEWAY_CLASSES],
        "routes": dict(sorted(routes.items(), key=lambda item: (item[0] == "*", item[0]))),
        "custom_routes": set(rules),
        "gateway_names": list(registry.GATEWAY_CLASSES),
        "mismatches": open_mismatches()[:50],
        "overpaid": db.session.scalars(db.select(Invoice).where(Invoice.status == "overpaid")
                                       .order_by(Invoice.id.desc()).limit(50)).all(),
    }


@bp.get("/")
@login_required
def index():
    if request.headers.get("HX-Request"):
        response = make_response(render_template("gateways/_health.html", **_context()))
    else:
        response = make_response(render_template("gateways/index.html", **_context()))
    response.vary.add("HX-Request")
    return response


@bp.post("/mismatches/<id:mismatch_id>/resolve")
@admin_required
def resolve_mismatch(mismatch_id: int):
    """Clearing one hides money owed back to a customer (overpaid, paid while void, wrong amount): admins only."""
    from ..models import PaymentMismatch, utcnow

    mismatch = db.session.get(PaymentMismatch, mismatch_id) or abort(404, "There is no such mismatch.")
    mismatch.resolved_at = utcnow()
    AuditEvent.record(current_user, "mismatch.resolved", "invoice", mismatch.invoice_id,
                      f"{mismatch.kind}: {mismatch.detail}")
    db.session.commit()
    flash("Marked as dealt with.", "success")
    return redirect(url_for("gateways.index")), 303


@bp.post("/<name>/enabled")
@admin_required
def set_enabled(name: str):
    setting = _setting(name)
    setting.enabled = request.form.get("enabled") == "1"
    AuditEvent.record(current_user, "gateway.enabled" if setting.enabled else "gateway.disabled", "setting", None,
                      name)
    db.session.commit()
    flash(f"{name} is {'switched on' if setting.enabled else 'switched off'}.", "success")
    return redirect(url_for("gateways.index")), 303


@bp.post("/<name>/breaker")
@admin_required
def set_breaker(name: str):
    choice = request.form.get("state", "")
    if choice not in ("auto", "open", "closed"):
        abort(400, "Choose automatic, open or closed.")
    setting = _setting(name)
    setting.forced_breaker = None if choice == "auto" else choice
    if choice == "auto":
        engine.breaker().reset(name)
    AuditEvent.record(current_user, "gateway.breaker", "setting", None, f"{name}: {choice}")
    db.session.commit()
    flash(f"{name} circuit breaker: {choice}.", "success")
    return redirect(url_for("gateways.index")), 303


@bp.post("/routing")
@admin_required
def set_routing():
    raw_currency = (request.form.get("currency") or "").strip().upper()
    try:
        currency = raw_currency if raw_currency == "*" else normalize_currency(raw_currency)
    except MoneyError as exc:
        flash(str(exc), "error")
        return redirect(url_for("gateways.index")), 303
    order = [n.strip().lower() for n in (request.form.get("gateways") or "").split(",") if n.strip()]
    unknown = [n for n in order if n not in registry.GATEWAY_CLASSES]
    if unknown or not order or len(set(order)) != len(order):
        flash("List each gateway at most once, by name: " + ", ".join(registry.GATEWAY_CLASSES) + ".", "error")
        return redirect(url_for("gateways.index")), 303
    rule = db.session.get(RoutingRule, currency) or RoutingRule(currency=currency)
    rule.gateways = ",".join(order)
    db.session.add(rule)
    AuditEvent.record(current_user, "routing.changed", "setting", None, f"{currency}: {' → '.join(order)}")
    db.session.commit()
    flash(f"Routing for {currency}: {' → '.join(order)}.", "success")
    return redirect(url_for("gateways.index")), 303
