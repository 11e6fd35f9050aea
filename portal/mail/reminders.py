"""Payment reminders: on each day of the merchant's schedule (days from the due date, set on the Settings page,
REMINDER_SCHEDULE until then; in the merchant's time zone) an invoice still open or part paid gets one reminder.
Each (invoice, day) is one outbox `cause`, so several workers, a restart or a second run the same day never send a
reminder twice; a paid, void or refunded invoice is never looked at, so reminders stop the moment it is settled.
A customer who followed the signed link in a reminder (unsubscribe.py) gets no more of them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import render_template
from sqlalchemy import func

from .. import jobs
from ..extensions import db
from ..merchant import merchant_settings
from ..models import Customer, Invoice, OutboxMessage, ReminderOptOut
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


def opted_out(address: str) -> ReminderOptOut | None:
    return db.session.scalar(db.select(ReminderOptOut).where(ReminderOptOut.address == address.strip().lower()))


def send_due_reminders(today: date | None = None) -> int:
    """Queue today's reminders; returns how many were new."""
    schedule = merchant_settings().reminder_days
    if not schedule:
        return 0
    today = today or merchant_settings().today()
    earliest = today - timedelta(days=schedule[-1] + 2)
    latest = today - timedelta(days=schedule[0])
    stopped = db.select(ReminderOptOut.address)
    ids = db.session.scalars(db.select(Invoice.id).join(Customer, Customer.id == Invoice.customer_id).where(
        Invoice.status.in_(REMINDED_STATUSES), Invoice.due_date.is_not(None),
        Invoice.due_date >= earliest, Invoice.due_date <= latest,
        func.lower(Customer.email).not_in(stopped)).order_by(Invoice.id)).all()
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
    from .unsubscribe import stop_url

    context = {"invoice": invoice, "merchant": merchant_settings(), "pay_url": pay_url, "day": day,
               "kind": "reminder", "stop_url": stop_url(invoice.customer)}
    return render_template("mail/reminder.txt", **context), render_template("mail/invoice.html", **context)


@dataclass(frozen=True)
class ReminderPlan:
    """What the invoice page says about reminders: the next one, or why there is none."""
    next_on: date | None = None
    next_day: int | None = None
    why_none: str = ""
    stopped_at: datetime | None = None


def plan(invoice: Invoice, today: date | None = None) -> ReminderPlan:
    profile = merchant_settings()
    today = today or profile.today()
    if invoice.status not in REMINDED_STATUSES:
        return ReminderPlan(why_none="none: the invoice is " + invoice.status.replace("_", " "))
    if invoice.due_date is None:
        return ReminderPlan(why_none="none: the invoice has no due date")
    if not profile.reminder_days:
        return ReminderPlan(why_none="none: reminders are off in Settings")
    stop = opted_out(invoice.customer.email)
    if stop is not None:
        return ReminderPlan(why_none="none: the customer unsubscribed from reminders", stopped_at=stop.created_at)
    sent = set(db.session.scalars(db.select(OutboxMessage.cause).where(
        OutboxMessage.invoice_id == invoice.id, OutboxMessage.kind == "reminder")))
    caught_up = step_due(invoice.due_date, today, profile.reminder_days)
    for day in profile.reminder_days:
        on = invoice.due_date + timedelta(days=day)
        if f"reminder:{invoice.id}:{day}" in sent:
            continue
        if on >= today or day == caught_up:
            return ReminderPlan(next_on=max(on, today), next_day=day)
    return ReminderPlan(why_none="none: every reminder in the schedule has gone")
