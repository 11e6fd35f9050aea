"""Needs attention: staff see the list; admins mark a money problem dealt with (audited)."""
from flask import abort, flash, g, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth import admin_required
from ..extensions import db
from ..merchant import merchant_settings
from ..models import AuditEvent, PaymentMismatch, utcnow
from . import bp
from .items import count, items


@bp.app_context_processor
def attention_badge():
    """`needs_attention()` for the navigation badge: counted only when a signed-in page asks."""
    return {"needs_attention": count}


@bp.get("/")
@login_required
def index():
    found = items()
    g.attention_count = len(found)  # the badge on this page counts the same list
    return render_template("attention/index.html", items=found, profile=merchant_settings())


@bp.post("/mismatches/<id:mismatch_id>/resolve")
@admin_required
def resolve_mismatch(mismatch_id: int):
    """Clearing one hides money owed back to a customer (overpaid, paid while void, wrong amount): admins only."""
    mismatch = db.session.get(PaymentMismatch, mismatch_id) or abort(404, "There is no such mismatch.")
    if mismatch.resolved_at is None:
        mismatch.resolved_at = utcnow()
        AuditEvent.record(current_user, "mismatch.resolved", "invoice", mismatch.invoice_id,
                          f"{mismatch.kind}: {mismatch.detail}")
        db.session.commit()
    flash("Marked as dealt with.", "success")
    return redirect(url_for("attention.index")), 303
