"""The webhook inbox: staff see every delivery and what became of it; admins reprocess a stored one."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth import admin_required
from ..extensions import db
from ..merchant import merchant_settings
from ..models import AuditEvent, Invoice, ProcessedEvent, WebhookDelivery
from ..validation import InvalidParameter, MAX_PAGE, query_choice, query_date, query_int
from ..webhooks import processing
from . import bp
from .deliveries import (MEANING, OUTCOMES, Filters, gateway_choices, masked_body, masked_headers, page_of,
                         rejected_per_hour, secrets_in_config)


def _filters(profile) -> Filters:
    gateways = gateway_choices()
    gateway = query_choice("gateway", list(gateways), "")
    outcome = query_choice("outcome", list(OUTCOMES), "")
    first, last = query_date("from"), query_date("to")
    if first and last and first > last:
        raise InvalidParameter("'from' must be on or before 'to'.")
    return Filters(gateway, outcome, profile.start_of(first) if first else None,
                   profile.start_of(last + timedelta(days=1)) if last else None)


def _invoice_numbers(rows) -> dict[int, str]:
    ids = {row.invoice_id for row in rows if row.invoice_id}
    if not ids:
        return {}
    return dict(db.session.execute(db.select(Invoice.id, Invoice.number).where(Invoice.id.in_(ids))).all())


@bp.get("/")
@login_required
def index():
    profile = merchant_settings()
    filters = _filters(profile)
    page = query_int("page", 1, MAX_PAGE)
    rows, more = page_of(filters, page)
    args = {k: v for k, v in request.args.items() if k in ("gateway", "outcome", "from", "to") and v}
    context = {"rows": rows, "more": more, "page": page, "args": args, "profile": profile,
               "numbers": _invoice_numbers(rows), "outcomes": OUTCOMES, "gateways": gateway_choices()}
    if request.headers.get("HX-Request"):
        response = make_response(render_template("inbox/_list.html", **context))
    else:
        hours = rejected_per_hour()
        response = make_response(render_template("inbox/index.html", hours=hours,
                                                 peak=max(count for _, count in hours), **context))
    response.vary.add("HX-Request")
    return response


@bp.get("/<id:delivery_id>")
@login_required
def detail(delivery_id: int):
    delivery = db.session.get(WebhookDelivery, delivery_id) or abort(404, "There is no such delivery.")
    secrets = secrets_in_config()
    claimed = None
    if delivery.event_id:
        claimed = db.session.get(ProcessedEvent, (delivery.gateway, delivery.event_id))
    return render_template("inbox/delivery.html", delivery=delivery, profile=merchant_settings(),
                           headers=masked_headers(delivery, secrets), body=masked_body(delivery, secrets),
                           outcomes=OUTCOMES, meaning=MEANING, gateways=gateway_choices(),
                           number=_invoice_numbers([delivery]).get(delivery.invoice_id),
                           claimed=claimed, why_not=processing.reprocessable(delivery))


@bp.post("/<id:delivery_id>/reprocess")
@admin_required
def reprocess(delivery_id: int):
    """Run a stored delivery through the live path again: verify, claim the event id, apply. Idempotent."""
    delivery = db.session.get(WebhookDelivery, delivery_id) or abort(404, "There is no such delivery.")
    try:
        outcome, words = processing.reprocess(delivery)
    except processing.CannotReprocess as exc:
        db.session.rollback()
        AuditEvent.record(current_user, "webhook.reprocess_refused", "webhook_delivery", delivery_id, str(exc)[:500])
        db.session.commit()
        flash(f"Not reprocessed: {exc}.", "error")
        return redirect(url_for("inbox.detail", delivery_id=delivery_id)), 303
    AuditEvent.record(current_user, "webhook.reprocessed", "webhook_delivery", delivery_id,
                      f"{delivery.gateway} {delivery.event_type or ''} {delivery.event_id or ''}: {outcome} ({words})"[:500])
    db.session.commit()
    flash(f"Reprocessed: {OUTCOMES.get(outcome, outcome).lower()}. {words}", "success")
    return redirect(url_for("inbox.detail", delivery_id=delivery_id)), 303
