"""The Outbox page: every message to customers, what became of it, and exactly what the customer receives.
Without SMTP_URL (the `make run` default) messages stay here, unsent, so the demo shows them."""
from __future__ import annotations

from flask import abort, current_app, make_response, render_template, url_for
from flask_login import login_required

from ..extensions import db
from ..models import OutboxMessage
from ..validation import MAX_PAGE, query_int
from . import bp
from .outbox import attached_document

PER_PAGE = 50
# The HTML part is the customer's email, shown in a frame: no script, no outside request, styles inline only.
PREVIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"


@bp.get("/")
@login_required
def index():
    page = query_int("page", 1, minimum=1, maximum=MAX_PAGE)
    rows = db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id.desc())
                              .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)).all()
    return render_template("outbox/index.html", messages=rows[:PER_PAGE], page=page,
                           more=len(rows) > PER_PAGE, smtp=bool(current_app.config["SMTP_URL"]))


@bp.get("/<id:message_id>")
@login_required
def detail(message_id: int):
    row = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template("outbox/detail.html", message=row, smtp=bool(current_app.config["SMTP_URL"]),
                           attachment=attachment_link(row))


def attachment_link(row: OutboxMessage) -> tuple[str, str] | None:
    """(file name, staff URL) of the PDF the message carries (rendered again, as it is now), or None."""
    from .. import pdf
    from ..models import Invoice

    document = attached_document(row)
    if isinstance(document, Invoice):
        return pdf.invoice_filename(document), url_for("invoices.invoice_pdf", invoice_id=document.id)
    if document is not None:
        return pdf.receipt_filename(document), url_for("invoices.receipt_pdf", invoice_id=document.invoice_id,
                                                       payment_row_id=document.id)
    return None


@bp.get("/<id:message_id>/html")
@login_required
def html_part(message_id: int):
    row = db.session.get(OutboxMessage, message_id) or abort(404)
    response = make_response(row.html_body)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response
