"""The invoice and its receipts as PDF, for staff: the same documents the customer gets by email and from the
pay page (portal/pdf)."""
from __future__ import annotations

from flask import abort
from flask_login import login_required

from .. import pdf
from ..extensions import db
from ..models import Payment
from . import bp


@bp.get("/invoices/<id:invoice_id>/invoice.pdf")
@login_required
def invoice_pdf(invoice_id: int):
    from .routes import get_invoice_or_404

    invoice = get_invoice_or_404(invoice_id)
    return pdf.pdf_response(pdf.invoice_pdf(invoice), pdf.invoice_filename(invoice))


@bp.get("/invoices/<id:invoice_id>/payments/<id:payment_row_id>/receipt.pdf")
@login_required
def receipt_pdf(invoice_id: int, payment_row_id: int):
    payment = db.session.get(Payment, payment_row_id)
    if payment is None or payment.invoice_id != invoice_id:
        abort(404)
    return pdf.pdf_response(pdf.receipt_pdf(payment), pdf.receipt_filename(payment))
