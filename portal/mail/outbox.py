"""Writing messages: rendered once from Jinja templates (an HTML and a plain-text part) into an outbox row in the
caller's transaction. The row's `cause` is unique, so one cause is one message however often it is asked for;
each queue_* answers the new row's id, or None when its cause already had its message."""
from __future__ import annotations

import secrets

from flask import current_app, render_template

from .. import jobs
from ..extensions import db
from ..merchant import merchant_settings
from ..models import Invoice, OutboxMessage
from ..models.mail import MAIL_QUEUED


def queue_invoice(invoice: Invoice, kind: str, to_address: str, cause: str) -> int | None:
    """The invoice, in the merchant's name, with its pay page and what is due; None when this cause already
    has its message."""
    from ..pay.routes import pay_url

    merchant = merchant_settings()
    context = {"invoice": invoice, "merchant": merchant, "pay_url": pay_url(invoice), "kind": kind}
    subject = f"Invoice {invoice.number} from {merchant.business_name}: {invoice.amount_due.format()} due"
    return _queue(cause, kind, invoice.id, to_address, subject,
                  render_template("mail/invoice.txt", **context), render_template("mail/invoice.html", **context),
                  attachment=f"invoice:{invoice.id}")


def queue_receipt(invoice: Invoice, payment, cause: str) -> int | None:
    """A payment arrived: a receipt (amount, gateway, payment id, date, what is still due)."""
    from ..pay.routes import pay_url
    from ..payments import registry

    merchant = merchant_settings()
    kind = "payment_received" if invoice.amount_due.minor == 0 else "partial_payment_received"
    context = {"invoice": invoice, "merchant": merchant, "pay_url": pay_url(invoice), "payment": payment,
               "gateway": registry.gateway_class(payment.gateway).display_name}
    subject = (f"Receipt: {payment.amount.format()} received for invoice {invoice.number}"
               + ("" if kind == "payment_received" else f", {invoice.amount_due.format()} still due"))
    return _queue(cause, kind, invoice.id, invoice.customer.email, subject,
                  render_template("mail/receipt.txt", **context), render_template("mail/receipt.html", **context),
                  attachment=f"receipt:{payment.gateway}:{payment.payment_id}")


def queue_refund(invoice: Invoice, refund, cause: str) -> int | None:
    """Money went back to the customer: when, how much, through which gateway."""
    from ..payments import registry

    merchant = merchant_settings()
    context = {"invoice": invoice, "merchant": merchant, "refund": refund,
               "gateway": registry.gateway_class(refund.gateway).display_name}
    subject = f"Refund of {refund.amount.format()} for invoice {invoice.number}"
    return _queue(cause, "refund_made", invoice.id, invoice.customer.email, subject,
                  render_template("mail/refund.txt", **context), render_template("mail/refund.html", **context))


def queue_reminder(invoice: Invoice, day: int, cause: str) -> int | None:
    """A payment reminder, `day` days from the due date (negative: before it)."""
    from ..pay.routes import pay_url
    from . import reminders

    text, html = reminders.bodies(invoice, day, pay_url(invoice))
    return _queue(cause, "reminder", invoice.id, invoice.customer.email, reminders.subject(invoice, day), text, html,
                  attachment=f"invoice:{invoice.id}")


def attached_document(row: OutboxMessage):
    """The Invoice or Payment whose PDF the message carries (`row.attachment`), or None."""
    from ..models import Payment

    kind, _, key = row.attachment.partition(":")
    if kind == "invoice":
        return db.session.get(Invoice, int(key))
    if kind == "receipt":
        gateway, _, payment_id = key.partition(":")
        return db.session.scalar(db.select(Payment).where(Payment.gateway == gateway, Payment.payment_id == payment_id))
    return None


def sender_address() -> str:
    """MAIL_FROM, or an address that can never be delivered to while it is unset (the Outbox-only default)."""
    return current_app.config["MAIL_FROM"] or "billing@hisabpro.invalid"


def new_cause(kind: str, invoice_id: int) -> str:
    """A cause for a send a person asked for: each click of a rendered form is its own, repeated clicks are one."""
    return f"{kind}:{invoice_id}:{secrets.token_urlsafe(12)}"


def _queue(cause: str, kind: str, invoice_id: int | None, to_address: str, subject: str, text: str,
           html: str, attachment: str = "") -> int | None:
    """The row, with the PDF to attach named, not rendered: the worker renders it when it sends (a webhook's
    transaction should not wait for a PDF)."""
    config = current_app.config
    sender = sender_address()
    domain = sender.rpartition("@")[2] or "hisabpro.invalid"
    reply_to = merchant_settings().reply_to_email or sender
    values = dict(cause=cause, kind=kind, invoice_id=invoice_id, to_address=to_address, reply_to=reply_to,
                  subject=subject, text_body=text, html_body=html, attachment=attachment, status=MAIL_QUEUED,
                  attempts=0, last_error="",
                  message_id=f"<{secrets.token_hex(16)}@{domain}>")
    from ..payments.ledger import insert_once

    inserted = insert_once(OutboxMessage, **values)
    if inserted is None:
        return None
    if config["SMTP_URL"]:
        jobs.enqueue("send_mail", message_id=inserted)
    return inserted
