"""Messages to customers: each one a row, written in the transaction of the change that causes it (issue 13)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow

# queued: waiting for the job worker (or, without SMTP_URL, kept here to be read on the Outbox page);
# sending: claimed by one worker; sent; failed: the server refused it for good (its answer in last_error).
MAIL_QUEUED, MAIL_SENDING, MAIL_SENT, MAIL_FAILED = "queued", "sending", "sent", "failed"


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What caused it ("invoice_issued:12", "invoice_sent:12:<random>"): unique, so one cause is one message.
    cause: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))          # invoice_issued, invoice_sent, ...
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))  # the Message-ID header: the same on every attempt
    status: Mapped[str] = mapped_column(String(12), default=MAIL_QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The PDF rendered and attached when it is sent: "invoice:<invoice id>", "receipt:<gateway>:<gateway's payment
    # id>" or "" for none.
    attachment: Mapped[str] = mapped_column(String(160), default="", server_default="")


class ReminderOptOut(db.Model):
    """An address whose owner asked for no more payment reminders (the signed link in each reminder). Kept by
    address, not by customer, so every version of a customer and every invoice to that address is covered;
    invoices and receipts are still sent."""

    __tablename__ = "reminder_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
