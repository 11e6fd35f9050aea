"""Gateway health for staff, live (statistics: portal/statistics); switches, breakers and routing for admins."""
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth import admin_required
from ..extensions import db
from ..merchant import merchant_settings
from ..models import AuditEvent, GatewaySetting, RoutingRule, utcnow
from ..money import MoneyError, normalize_currency
from ..payments import admin_settings, engine, health, registry, routing
from . import bp


def _setting(name: str) -> GatewaySetting:
    if name not in registry.GATEWAY_CLASSES:
        abort(404, "There is no such gateway.")
    setting = db.session.get(GatewaySetting, name)
    if setting is None:
        setting = GatewaySetting(name=name, enabled=True)
        db.session.add(setting)
    return setting


def _saved() -> None:
    """Commit an admin's change, then tell every worker and instance to reload gateway settings and routing
    (they keep both cached between changes)."""
    db.session.commit()
    admin_settings.changed()


def _context() -> dict:
    rules = {r.currency: r.order for r in db.session.scalars(db.select(RoutingRule))}
    zone, now = merchant_settings().zone, utcnow()
    return {
        # Per gateway: the sentence (the one definition, payments/health.py), then the folded details.
        "reports": health.report(zone, now),
        "at": lambda moment: health.clock(moment, zone, now) if moment else "",
        "routes": routing.routes(),
        "custom_routes": set(rules),
        "gateway_names": {name: cls.display_name for name, cls in registry.all_classes().items()},
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


@bp.post("/<name>/enabled")
@admin_required
def set_enabled(name: str):
    setting = _setting(name)
    setting.enabled = request.form.get("enabled") == "1"
    AuditEvent.record(current_user, "gateway.enabled" if setting.enabled else "gateway.disabled", "setting", None,
                      name)
    _saved()
    shown = registry.gateway_class(name).display_name
    flash(f"{shown} is switched on." if setting.enabled
          else f"{shown} is switched off: no new payment goes to it until an admin switches it on.", "success")
    return redirect(url_for("gateways.index")), 303


BREAKER_WORDS = {
    "auto": "the circuit breaker decides again from its calls.",
    "open": "held down; payments go to the next gateway until an admin lets the breaker decide again.",
    "closed": "held up; payments go to it even while it fails, until an admin lets the breaker decide again.",
}


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
    _saved()
    flash(f"{registry.gateway_class(name).display_name}: " + BREAKER_WORDS[choice], "success")
    return redirect(url_for("gateways.index")), 303


def _route_currency(raw: str) -> str | None:
    """'*' or a currency code from a form; None (and a message) when it is neither."""
    raw = (raw or "").strip().upper()
    try:
        return raw if raw == "*" else normalize_currency(raw)
    except MoneyError as exc:
        flash(str(exc), "error")
        return None


def _save_route(currency: str, order: list[str], what: str) -> None:
    rule = db.session.get(RoutingRule, currency) or RoutingRule(currency=currency)
    rule.gateways = ",".join(order)
    db.session.add(rule)
    names = registry.all_classes()
    shown = " → ".join(names[n].display_name for n in order)
    label = "every other currency" if currency == "*" else currency
    AuditEvent.record(current_user, "routing.changed", "setting", None, f"{currency}: {what}; now {' → '.join(order)}")
    _saved()
    flash(f"Routing for {label}: {what}. Now {shown}.", "success")


@bp.post("/routing/move")
@admin_required
def move_in_routing():
    """Move one gateway up or down in a currency's order (buttons on the Gateways page; no typing)."""
    currency = _route_currency(request.form.get("currency", ""))
    if currency is None:
        return redirect(url_for("gateways.index", _anchor="routing")), 303
    name, direction = request.form.get("gateway", ""), request.form.get("direction", "")
    order = list(routing.routes().get(currency, []))
    if direction not in ("up", "down") or name not in order:
        abort(400, "Choose a gateway in that currency's order, and up or down.")
    index = order.index(name)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
        _save_route(currency, order, f"{registry.gateway_class(name).display_name} moved {direction}")
    return redirect(url_for("gateways.index", _anchor="routing")), 303


@bp.post("/routing/add")
@admin_required
def add_routing():
    """A currency of its own, starting from the order it follows today (gateways that cannot take it left out);
    then the move buttons change it."""
    currency = _route_currency(request.form.get("currency", ""))
    if currency is None:
        return redirect(url_for("gateways.index", _anchor="routing")), 303
    if currency in routing.routes():
        flash(f"{'Every other currency' if currency == '*' else currency} already has its own order.", "error")
        return redirect(url_for("gateways.index", _anchor="routing")), 303
    classes = registry.all_classes()
    order = [n for n in routing.priority_for(currency) if currency in classes[n].currencies]
    if not order:
        flash(f"No gateway takes {currency}.", "error")
        return redirect(url_for("gateways.index", _anchor="routing")), 303
    _save_route(currency, order, "given an order of its own")
    return redirect(url_for("gateways.index", _anchor="routing")), 303


@bp.post("/routing/reset")
@admin_required
def reset_routing():
    """Drop an admin's order for a currency: it follows the default again."""
    currency = _route_currency(request.form.get("currency", ""))
    rule = db.session.get(RoutingRule, currency) if currency else None
    if rule is not None:
        db.session.delete(rule)
        AuditEvent.record(current_user, "routing.changed", "setting", None, f"{currency}: back to the default")
        _saved()
        flash(f"Routing for {'every other currency' if currency == '*' else currency} is back to the default.",
              "success")
    return redirect(url_for("gateways.index", _anchor="routing")), 303


@bp.post("/routing")
@admin_required
def set_routing():
    """The whole order typed as names (`gateways=stripe,paypal`): kept for scripts; the page moves gateways
    up and down instead."""
    currency = _route_currency(request.form.get("currency", ""))
    if currency is None:
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
    _saved()
    flash(f"Routing for {currency}: {' → '.join(order)}.", "success")
    return redirect(url_for("gateways.index")), 303
