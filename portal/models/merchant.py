"""The merchant's own details and defaults: one row, edited by admins on the Settings page."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow

DEFAULT_TIME_ZONE = "Asia/Kolkata"
DEFAULT_CURRENCY = "INR"
DEFAULT_PAYMENT_TERMS_DAYS = 14


class MerchantSetting(db.Model):
    """Always the row with id 1. An empty business name means MERCHANT_NAME from the environment."""

    __tablename__ = "merchant_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("payment_terms_days >= 0", name="terms_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    business_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    tax_id: Mapped[str] = mapped_column(String(32), default="")
    default_currency: Mapped[str] = mapped_column(String(3), default=DEFAULT_CURRENCY)
    time_zone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIME_ZONE)
    payment_terms_days: Mapped[int] = mapped_column(default=DEFAULT_PAYMENT_TERMS_DAYS)
    invoice_footer: Mapped[str] = mapped_column(Text, default="")
    # Where customers' replies to our emails go; empty: MAIL_FROM.
    reply_to_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    # Reminder days from the due date ("-3,0,3,7,14"); NULL: REMINDER_SCHEDULE from the environment; "": none.
    reminder_schedule: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
