"""Money back on the invoice page (issue 12): each payment's refunds and disputes, the refund form for admins,
and the one-click offers ("Refund the extra", "Refund in full"). The work is portal/payments/refunds.py's."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from ..auth.decorators import admin_required
from ..extensions import db
from ..models import Payment
from ..models import ledger as rows
from ..money import Money, MoneyError
from ..payments import refunds
from . import bp


def context(invoice) -> dict:
    """What the payments card needs beyond the payments themselves."""
    payments = invoice.payments
    offer = refunds.extra_offer(invoice)
    keep_polling = (not invoice.is_final
                    or any(r.is_open for p in payments for r in p.refunds)
                    or any(d.is_active for p in payments for d in p.disputes))
    return {
        "refundable": {p.id: refunds.refundable(p) for p in payments},
        "why_not_refundable": {p.id: refunds.why_not_refundable(p) for p in payments},
        "extra_offer": offer,
        "void_offers": refunds.void_offers(invoice),
        "refund_key": refunds.new_request_key(),
        "money_back": any(p.refunds or p.disputes for p in payments),
        "keep_polling": keep_polling,
    }


@bp.post("/invoices/<id:invoice_id>/payments/<id:payment_row_id>/refund")
@admin_required
def refund(invoice_id: int, payment_row_id: int):
    """An admin refunds part or all of one payment. The form's key makes every click of it one refund."""
    from .routes import get_invoice_or_404, render_live

    invoice = get_invoice_or_404(invoice_id)
    payment = db.session.get(Payment, payment_row_id)
    if payment is None or payment.invoice_id != invoice.id:
        abort(404)
    message, ok = _refund(payment, request.form)
    if request.headers.get("HX-Request"):
        db.session.refresh(invoice)
        response = render_live(invoice, refund_message=message, refund_ok=ok, refund_payment_id=payment.id)
        response.status_code = 200
        return response
    flash(message, "success" if ok else "error")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id) + "#payments"), 303


def _refund(payment: Payment, form) -> tuple[str, bool]:
    """Ask for the refund; (what to tell the admin, whether it went through or is under way)."""
    text = (form.get("amount") or "").strip()
    try:
        amount = Money.parse(text, payment.currency)
    except MoneyError as exc:
        return f"Amount: {exc}. Nothing was refunded.", False
    reason = (form.get("reason") or "").strip()[:500]
    key = (form.get("request_key") or "").strip()[:64] or None
    try:
        row, _ = refunds.request_refund(payment.id, amount, reason, current_user, via="portal", request_key=key)
    except refunds.RefundRefused as exc:
        return f"{exc.message} Nothing was refunded.", False
    name = payment.gateway.title()
    shown = row.amount.format()
    if row.status == rows.REFUND_SUCCEEDED:
        return f"Refunded {shown} through {name}.", True
    if row.status == rows.REFUND_PENDING:
        return (f"{name} accepted the refund of {shown}; it is pending there and this page updates when it "
                "completes."), True
    if row.status == rows.REFUND_REQUESTED:
        return (f"{name} did not confirm the refund of {shown} in time. We are checking with {name} and will "
                "finish it; it will not be made twice."), True
    return f"{name} did not refund {shown}: {row.failure}. Nothing was refunded.", False
