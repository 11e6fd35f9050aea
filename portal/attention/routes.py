"""Needs attention: staff see the list; admins mark a money problem dealt with (audited)."""
import logging

from flask import abort, flash, g, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..auth import admin_required
from ..extensions import db
from ..merchant import merchant_settings
from ..models import AuditEvent, PaymentMismatch, utcnow
from . import bp
from .items import DECIDED_DAYS, count, decided_disputes, items

log = logging.getLogger("portal.attention")


def _badge() -> int:
    """The count for the navigation badge. A page must still render when it cannot be counted (the breaker
    store unreachable, an error page after a failed transaction): no badge then, and a line in the log."""
    try:
        return count()
    except Exception:  # whatever the database or the breaker store raised
        log.warning("needs-attention count unavailable", exc_info=True)
        return 0


@bp.app_context_processor
def attention_badge():
    """`needs_attention()` for the navigation badge: counted only when a signed-in page asks."""
    return {"needs_attention": _badge}


@bp.get("/")
@login_required
def index():
    found = items()
    g.attention_count = len(found)  # the badge on this page counts the same list
    return render_template("attention/index.html", items=found, profile=merchant_settings(),
                           decided=decided_disputes(), decided_days=DECIDED_DAYS)


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
