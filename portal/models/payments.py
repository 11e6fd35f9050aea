"""Payment links, every gateway call, every click, and the gateway settings admins change."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import Money
from .types import UTCDateTime, utcnow

# Link rows are written before the gateway is called, so a crash mid-call leaves a trace.
LINK_PENDING = "pending"        # persisted, gateway call under way
LINK_FAILED = "failed"          # the gateway surely did not create it
LINK_ABANDONED = "abandoned"    # outcome unknown (timeout); to be looked up and cancelled later
LIVE_STATUSES = ("created", "partially_paid")


class PaymentLink(db.Model):
    __tablename__ = "payment_links"
    __table_args__ = (
        UniqueConstraint("gateway", "link_id", name="uq_payment_links_gateway_link_id"),
        Index("ix_payment_links_invoice_status", "invoice_id", "status"),
        Index("ix_payment_links_status_gateway", "status", "gateway"),  # Needs attention: open links per gateway
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    # Our idempotency key for this (invoice, gateway, attempt): Stripe Idempotency-Key, PayPal
    # PayPal-Request-Id and invoice_id, Razorpay reference_id (<= 40 characters).
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    link_id: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=LINK_PENDING)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    amount_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    invoice = relationship("Invoice", back_populates="payment_links")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    def is_live(self, at: datetime | None = None) -> bool:
        at = at or utcnow()
        return self.status in LIVE_STATUSES and (self.expires_at is None or self.expires_at > at)


class LinkClick(db.Model):
    """One request for a payment link (a click, an API call): what was asked and how it ended."""

    __tablename__ = "link_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(254), default="")
    requested_gateway: Mapped[str | None] = mapped_column(String(20))
    # reused (no gateway call: cache or database), created, failed (no gateway could), refused (paid/void);
    # cancelled, declined: the customer came back from the gateway without paying (engine.record_customer_outcome)
    outcome: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str | None] = mapped_column(String(20))
    payment_link_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"))
    fallback: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(default=0)

    payment_link: Mapped[PaymentLink | None] = relationship()


class GatewayAttempt(db.Model):
    """Every call to a gateway: the attempt log that statistics and the invoice trail are built from."""

    __tablename__ = "gateway_attempts"
    __table_args__ = (Index("ix_gateway_attempts_gateway_created", "gateway", "created_at"),
                      Index("ix_gateway_attempts_created_at", "created_at"))  # Statistics: today, live

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    click_id: Mapped[int | None] = mapped_column(ForeignKey("link_clicks.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(16))    # create, find, fetch, cancel, check
    attempt: Mapped[int] = mapped_column(default=1)        # 1 = first try at this gateway, 2+ = retries
    reference: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))       # success, failure, skipped
    error_kind: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")  # scrubbed: never a key or Authorization value
    duration_ms: Mapped[int] = mapped_column(default=0)


class GatewaySetting(db.Model):
    """What admins decide per gateway: switched on or off, breaker forced open or closed."""

    __tablename__ = "gateway_settings"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    forced_breaker: Mapped[str | None] = mapped_column(String(10))  # None (automatic), "open", "closed"
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RoutingRule(db.Model):
    """Gateway priority for one currency; currency '*' is every currency without a rule of its own."""

    __tablename__ = "routing_rules"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    gateways: Mapped[str] = mapped_column(Text)  # comma-separated names, first = preferred
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def order(self) -> list[str]:
        return [name.strip() for name in self.gateways.split(",") if name.strip()]
