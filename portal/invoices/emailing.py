"""Sending an invoice from its page (issue 13): to the customer's address or another one typed for this send."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from ..extensions import db
from ..mail import outbox
from ..models import AuditEvent
from . import bp
from .service import EMAIL_RE


@bp.post("/invoices/<id:invoice_id>/email")
@login_required
def email(invoice_id: int):
    """Queue the invoice email. The form's key makes repeated clicks of one form one message."""
    from .routes import get_invoice_or_404

    invoice = get_invoice_or_404(invoice_id)
    back = redirect(url_for("invoices.detail", invoice_id=invoice.id) + "#send"), 303
    if invoice.status in ("draft", "void"):
        flash(f"A {invoice.status} invoice is not sent to customers. Nothing was sent.", "error")
        return back
    to = (request.form.get("to") or "").strip()
    if len(to) > 254 or not EMAIL_RE.match(to) or any(c in to for c in "\r\n,;<>"):
        flash("Enter one email address like name@example.com. Nothing was sent.", "error")
        return back
    key = (request.form.get("send_key") or "").strip()[:40] or outbox.new_cause("x", 0).rpartition(":")[2]
    message = outbox.queue_invoice(invoice, "invoice_sent", to, f"invoice_sent:{invoice.id}:{key}")
    if message is not None:
        AuditEvent.record(current_user, "invoice.emailed", "invoice", invoice.id, f"sent to {to}")
    db.session.commit()
    flash(f"Invoice {invoice.number} is on its way to {to}: see the Outbox.", "success")
    return back
