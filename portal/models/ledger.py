"""Money received, every webhook delivery as it arrived, events already applied, things staff must look at,
and the durable job queue."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import Money
from .types import ForeignString, ForeignText, UTCDateTime, utcnow


# A payment's status follows its refunds and disputes (portal/payments/refunds.py `settle_payment`).
PAYMENT_CAPTURED = "captured"
PAYMENT_PARTIALLY_REFUNDED = "partially_refunded"
PAYMENT_REFUNDED = "refunded"
PAYMENT_DISPUTED = "disputed"            # a dispute is open or under review
PAYMENT_CHARGED_BACK = "charged_back"    # a dispute was lost: the bank took the money back
PAYMENT_STATUSES = (PAYMENT_CAPTURED, PAYMENT_PARTIALLY_REFUNDED, PAYMENT_REFUNDED, PAYMENT_DISPUTED,
                    PAYMENT_CHARGED_BACK)


class Payment(db.Model):
    """One payment that reached the merchant. Unique per gateway payment id: applied once, however often
    the webhook, the return page and reconciliation report it. Every row is money that arrived; what went
    back since is in its refunds and lost disputes."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("gateway", "payment_id", name="uq_payments_gateway_payment_id"),
                      Index("ix_payments_received_at", "received_at"),  # Home: latest payments, last 30 days
                      Index("ix_payments_payment_link_id", "payment_link_id"))  # Statistics: a link's first payment

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=PAYMENT_CAPTURED)
    source: Mapped[str] = mapped_column(String(16))  # webhook, return, reconcile
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Sum of its succeeded refunds, recomputed from the refund rows whenever one changes.
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    invoice = relationship("Invoice", back_populates="payments")
    refunds = relationship("Refund", back_populates="payment", order_by="Refund.id")
    disputes = relationship("Dispute", back_populates="payment", order_by="Dispute.id")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def amount_refunded(self) -> Money:
        return Money(self.amount_refunded_minor or 0, self.currency)


# Refund rows: `requested` is written before the gateway is called (the gateway may or may not have it: it is
# looked up by its reference before anything is sent again); the gateway's answer moves it on.
REFUND_REQUESTED = "requested"
REFUND_PENDING = "pending"
REFUND_SUCCEEDED = "succeeded"
REFUND_FAILED = "failed"
REFUND_OPEN_STATUSES = (REFUND_REQUESTED, REFUND_PENDING)   # money promised, not yet gone


class Refund(db.Model):
    """Money given back from one payment: asked for here (an admin, the API) or made at the gateway's own
    dashboard and learnt from its webhook. Unique per gateway refund id, and per our reference."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("gateway", "refund_id", name="uq_refunds_gateway_refund_id"),
                      Index("ix_refunds_payment_row_id", "payment_row_id"),
                      Index("ix_refunds_status_created", "status", "created_at"),  # Needs attention, reconcile
                      Index("ix_refunds_succeeded_at", "succeeded_at"))  # Statistics: refunded per day

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_row_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    # Our idempotency key (Stripe Idempotency-Key, PayPal PayPal-Request-Id, Razorpay receipt); NULL for a
    # refund made elsewhere.
    reference: Mapped[str | None] = mapped_column(String(40), unique=True)
    # The key of the click or API request that asked for it: ten clicks of one form make one refund.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    refund_id: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default=REFUND_REQUESTED)
    reason: Mapped[str] = mapped_column(Text, default="")        # what staff wrote, or the gateway's note
    failure: Mapped[str] = mapped_column(Text, default="")       # why it failed, in the gateway's words
    failure_code: Mapped[str | None] = mapped_column(String(64))  # "<kind>:<code>" of the GatewayError, if any
    source: Mapped[str] = mapped_column(String(16))  # portal, api (asked here); webhook, reconcile (made elsewhere)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it succeeded or failed
    # When it first succeeded; kept if it later fails, so statistics can count the day it left and the day
    # it came back.
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment = relationship("Payment", back_populates="refunds")
    requested_by = relationship("User")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def is_open(self) -> bool:
        return self.status in REFUND_OPEN_STATUSES

    @property
    def public_status(self) -> str:
        """pending, succeeded or failed (the API's words): a request not yet answered is pending too."""
        return REFUND_PENDING if self.status == REFUND_REQUESTED else self.status


DISPUTE_OPEN = "open"
DISPUTE_UNDER_REVIEW = "under_review"
DISPUTE_WON = "won"
DISPUTE_LOST = "lost"
DISPUTE_ACTIVE_STATUSES = (DISPUTE_OPEN, DISPUTE_UNDER_REVIEW)


class Dispute(db.Model):
    """A customer's bank disputing a payment (a chargeback), as the gateway reports it. A lost dispute is money
    that left the merchant."""

    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("gateway", "dispute_id", name="uq_disputes_gateway_dispute_id"),
                      Index("ix_disputes_payment_row_id", "payment_row_id"),
                      Index("ix_disputes_status_respond_by", "status", "respond_by"))  # Needs attention

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_row_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    dispute_id: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=DISPUTE_OPEN)
    reason: Mapped[str] = mapped_column(Text, default="")
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment = relationship("Payment", back_populates="disputes")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def is_active(self) -> bool:
        return self.status in DISPUTE_ACTIVE_STATUSES


class WebhookDelivery(db.Model):
    """Every delivery to /webhooks/*, stored once its signature is checked (in the transaction that applies
    it, or trimmed when it fails): raw bytes, headers, what we did.

    A delivery that fails verification keeps only its first bytes (body_truncated), with the size and
    SHA-256 of the whole body, so forgeries cannot fill the database; a verified one is kept whole. Rows
    older than WEBHOOK_RETENTION_DAYS are pruned by a background job (portal/webhooks/retention.py)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_gateway_event", "gateway", "event_id"),
                      # The webhook inbox filters by gateway or outcome, newest first.
                      Index("ix_webhook_deliveries_gateway_received", "gateway", "received_at"),
                      Index("ix_webhook_deliveries_outcome_received", "outcome", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    # Read from the delivery before it is verified: anything the sender wrote, stored safely (ForeignString).
    event_id: Mapped[str | None] = mapped_column(ForeignString(100))
    event_type: Mapped[str | None] = mapped_column(ForeignString(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_size: Mapped[int] = mapped_column(default=0, server_default="0")  # bytes received
    body_sha256: Mapped[str | None] = mapped_column(String(64))            # hex, of all bytes received
    body_truncated: Mapped[bool] = mapped_column(default=False, server_default=false())
    headers: Mapped[str] = mapped_column(ForeignText(), default="{}")  # JSON; cookies and authorization removed
    verified: Mapped[bool] = mapped_column(default=False)
    # received (older rows: handling never finished), rejected, unverified (could not check: gateway down),
    # failed (verified, applying raised), duplicate, applied, ignored, unknown_object, mismatch, link_closed, queued
    outcome: Mapped[str] = mapped_column(String(20), default="received")
    detail: Mapped[str] = mapped_column(ForeignText(), default="")
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)


class ProcessedEvent(db.Model):
    """A verified event already acted on. The primary key makes concurrent duplicate deliveries, even to
    different workers, apply once: the second insert fails and that delivery is answered as a duplicate."""

    __tablename__ = "processed_events"

    gateway: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignString(100), primary_key=True)  # Razorpay's is an unsigned header
    # The delivery that was applied; NULL once it has aged out (the event id alone keeps the dedupe).
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_deliveries.id"))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookTransmission(db.Model):
    """A signed transmission id (PayPal's PAYPAL-TRANSMISSION-ID) and the body it arrived with. PayPal's
    signature covers only a CRC-32 of the body, which can be forged, so one transmission id is good for one
    body: the same bytes again are a redelivery, other bytes under it are refused. The unique constraint
    decides between concurrent deliveries."""

    __tablename__ = "webhook_transmissions"
    __table_args__ = (UniqueConstraint("gateway", "transmission_id",
                                       name="uq_webhook_transmissions_gateway_transmission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    transmission_id: Mapped[str] = mapped_column(String(100))
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


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
