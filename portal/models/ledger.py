"""Money received, every webhook delivery as it arrived, events already applied, things staff must look at,
and the durable job queue."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import Money
from .types import UTCDateTime, utcnow


class Payment(db.Model):
    """One payment that reached the merchant. Unique per gateway payment id: applied once, however often
    the webhook, the return page and reconciliation report it."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("gateway", "payment_id", name="uq_payments_gateway_payment_id"),
                      Index("ix_payments_received_at", "received_at"))  # Home: latest payments, last 30 days

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="completed")
    source: Mapped[str] = mapped_column(String(16))  # webhook, return, reconcile
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    invoice = relationship("Invoice", back_populates="payments")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class WebhookDelivery(db.Model):
    """Every delivery to /webhooks/*, stored before anything else: raw bytes, headers, what we did."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_gateway_event", "gateway", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text, default="{}")  # JSON; cookies and authorization removed
    verified: Mapped[bool] = mapped_column(default=False)
    # received, rejected, unverified (could not check: gateway down), duplicate, applied, ignored,
    # unknown_object, mismatch, link_closed, queued
    outcome: Mapped[str] = mapped_column(String(20), default="received")
    detail: Mapped[str] = mapped_column(Text, default="")
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)


class ProcessedEvent(db.Model):
    """A verified event already acted on. The primary key makes concurrent duplicate deliveries, even to
    different workers, apply once: the second insert fails and that delivery is answered as a duplicate."""

    __tablename__ = "processed_events"

    gateway: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentMismatch(db.Model):
    """Something staff must look at: money that does not match an invoice, paid at the gateway but open
    here, a payment for a void invoice."""

    __tablename__ = "payment_mismatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    link_id: Mapped[str | None] = mapped_column(String(100))
    payment_id: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))  # webhook, return, reconcile
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(db.Model):
    """Background work that must survive a restart (captures, cancelling links left behind)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued, running, done, failed
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
