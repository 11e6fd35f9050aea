"""Writing messages: rendered once from Jinja templates (an HTML and a plain-text part) into an outbox row in the
caller's transaction. The row's `cause` is unique, so one cause is one message however often it is asked for."""
from __future__ import annotations

import secrets

from flask import current_app, render_template

from .. import jobs
from ..extensions import db
from ..merchant import merchant_settings
from ..models import Invoice, OutboxMessage
from ..models.mail import MAIL_QUEUED
from ..payments.ledger import insert_once


def queue_invoice(invoice: Invoice, kind: str, to_address: str, cause: str) -> OutboxMessage | None:
    """The invoice, in the merchant's name, with its pay page and what is due; None when this cause already
    has its message."""
    from ..pay.routes import pay_url

    merchant = merchant_settings()
    context = {"invoice": invoice, "merchant": merchant, "pay_url": pay_url(invoice), "kind": kind}
    subject = f"Invoice {invoice.number} from {merchant.business_name}: {invoice.amount_due.format()} due"
    return _queue(cause, kind, invoice.id, to_address, subject,
                  render_template("mail/invoice.txt", **context), render_template("mail/invoice.html", **context))


def new_cause(kind: str, invoice_id: int) -> str:
    """A cause for a send a person asked for: each click of a rendered form is its own, repeated clicks are one."""
    return f"{kind}:{invoice_id}:{secrets.token_urlsafe(12)}"


def _queue(cause: str, kind: str, invoice_id: int | None, to_address: str, subject: str, text: str,
           html: str) -> OutboxMessage | None:
    config = current_app.config
    sender = config["MAIL_FROM"] or "billing@hisabpro.invalid"
    domain = sender.rpartition("@")[2] or "hisabpro.invalid"
    values = dict(cause=cause, kind=kind, invoice_id=invoice_id, to_address=to_address, reply_to=sender,
                  subject=subject, text_body=text, html_body=html, status=MAIL_QUEUED, attempts=0, last_error="",
                  message_id=f"<{secrets.token_hex(16)}@{domain}>")
    if not insert_once(OutboxMessage, **values):
        return None
    message = db.session.scalar(db.select(OutboxMessage).where(OutboxMessage.cause == cause))
    if config["SMTP_URL"]:
        jobs.enqueue("send_mail", message_id=message.id)
    return message
