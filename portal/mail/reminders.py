"""Payment reminders: on each day of REMINDER_SCHEDULE (days from the due date, in the merchant's time zone) an
invoice still open or part paid gets one reminder. Each (invoice, day) is one outbox `cause`, so several workers,
a restart or a second run the same day never send a reminder twice; a paid, void or refunded invoice is never
looked at, so reminders stop the moment it is settled."""
from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import current_app, render_template

from .. import jobs
from ..extensions import db
from ..merchant import merchant_settings
from ..models import Invoice
from . import outbox

log = logging.getLogger("portal.mail.reminders")
REMINDED_STATUSES = ("open", "partially_paid")


def step_due(due: date, today: date, schedule: tuple[int, ...]) -> int | None:
    """The schedule's day that applies today: the latest one reached, if it was reached within the last 2 days (a
    worker down over a day still sends it late; one down for weeks does not send old steps). None when none."""
    reached = [day for day in schedule if due + timedelta(days=day) <= today]
    if not reached or (today - (due + timedelta(days=reached[-1]))).days > 2:
        return None
    return reached[-1]


def send_due_reminders(today: date | None = None) -> int:
    """Queue today's reminders; returns how many were new."""
    schedule = current_app.config["REMINDER_SCHEDULE"]
    if not schedule:
        return 0
    today = today or merchant_settings().today()
    earliest = today - timedelta(days=schedule[-1] + 2)
    latest = today - timedelta(days=schedule[0])
    ids = db.session.scalars(db.select(Invoice.id).where(
        Invoice.status.in_(REMINDED_STATUSES), Invoice.due_date.is_not(None),
        Invoice.due_date >= earliest, Invoice.due_date <= latest).order_by(Invoice.id)).all()
    queued = 0
    for invoice_id in ids:
        invoice = db.session.get(Invoice, invoice_id)
        day = step_due(invoice.due_date, today, schedule)
        if day is None:
            continue
        if outbox.queue_reminder(invoice, day, f"reminder:{invoice.id}:{day}") is not None:
            queued += 1
        db.session.commit()
    log.info("reminders: %d queued for %s", queued, today)
    return queued


@jobs.handler("send_reminders")
def send_reminders_job() -> None:
    send_due_reminders()


def subject(invoice: Invoice, day: int) -> str:
    due = invoice.amount_due.format()
    if day < 0:
        return f"Reminder: invoice {invoice.number}, {due}, is due in {-day} day{'s' if day != -1 else ''}"
    if day == 0:
        return f"Reminder: invoice {invoice.number}, {due}, is due today"
    return f"Overdue: invoice {invoice.number}, {due}, was due {day} day{'s' if day != 1 else ''} ago"


def bodies(invoice: Invoice, day: int, pay_url: str) -> tuple[str, str]:
    context = {"invoice": invoice, "merchant": merchant_settings(), "pay_url": pay_url, "day": day,
               "kind": "reminder"}
    return render_template("mail/reminder.txt", **context), render_template("mail/invoice.html", **context)
