"""Customers and invoices. Amounts are integer minor units beside a currency code, never floats."""
from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, false, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import Money
from .types import UTCDateTime, utcnow


class InvoiceStateError(Exception):
    """A change the invoice's status does not allow; the message is shown to people as it is."""


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvoiceSequence(db.Model):
    """The last number issued per year, so numbers are unique and gap-free."""

    __tablename__ = "invoice_sequences"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(default=0)

    @classmethod
    def next_number(cls, year: int) -> str:
        """Take the next number inside the caller's transaction: a rollback gives it back."""
        for _ in range(3):
            taken = db.session.execute(
                update(cls)
                .where(cls.year == year)
                .values(last_value=cls.last_value + 1)
                .returning(cls.last_value)
            ).scalar()
            if taken is not None:
                return f"INV-{year}-{taken:04d}"
            try:
                with db.session.begin_nested():
                    db.session.add(cls(year=year, last_value=0))
            except IntegrityError:
                pass  # another request created the year's row first; increment theirs
        raise RuntimeError("could not allocate an invoice number")


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column()
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    @property
    def unit_price(self) -> Money:
        return Money(self.unit_price_minor, self.invoice.currency)

    @property
    def amount(self) -> Money:
        return self.unit_price * self.quantity


# Which status may follow which. Payments decide between partially_paid / paid / overpaid.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"open", "void"}),
    "open": frozenset({"partially_paid", "paid", "overpaid", "void"}),
    "partially_paid": frozenset({"partially_paid", "paid", "overpaid"}),
    "paid": frozenset({"overpaid"}),
    "overpaid": frozenset({"overpaid"}),
    "void": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
FINAL_STATUSES = frozenset({"paid", "overpaid", "void"})


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint("amount_paid_minor >= 0", name="paid_not_negative"),
        Index("ix_invoices_created", "created_at", "id"),
        Index("ix_invoices_status_created", "status", "created_at", "id"),
        # The invoice list's sort orders (portal/invoices/service.py SORT_COLUMNS), each ending on the id.
        Index("ix_invoices_due", "due_date", "id"),
        Index("ix_invoices_currency_total", "currency", "total_minor", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    due_date: Mapped[date | None] = mapped_column()
    notes: Mapped[str] = mapped_column(Text, default="")
    # What the customer's Pay Now link carries: random, not guessable from the id or number.
    pay_token: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: secrets.token_urlsafe(24))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship(lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by=InvoiceLine.position, cascade="all, delete-orphan"
    )
    payment_links = relationship("PaymentLink", back_populates="invoice", order_by="PaymentLink.id")
    payments = relationship("Payment", back_populates="invoice", order_by="Payment.id")
    # Held while one request generates a payment link, so two clicks never create two links.
    link_lock_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Razorpay partial payments (issue 5); the engine passes it on to gateways that support it.
    accept_partial: Mapped[bool] = mapped_column(default=False, server_default=false())

    def __init__(self, **kwargs):
        # Column defaults apply only at INSERT; a new invoice must be a draft from the first line.
        kwargs.setdefault("status", "draft")
        kwargs.setdefault("total_minor", 0)
        kwargs.setdefault("amount_paid_minor", 0)
        super().__init__(**kwargs)

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    @property
    def amount_paid(self) -> Money:
        return Money(self.amount_paid_minor, self.currency)

    @property
    def amount_due(self) -> Money:
        return Money(max(self.total_minor - self.amount_paid_minor, 0), self.currency)

    @property
    def is_editable(self) -> bool:
        return self.status == "draft"

    @property
    def can_void(self) -> bool:
        return "void" in TRANSITIONS[self.status]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def _move(self, new_status: str) -> None:
        if new_status not in TRANSITIONS[self.status]:
            raise InvoiceStateError(f"A {self.status.replace('_', ' ')} invoice cannot become {new_status.replace('_', ' ')}.")
        self.status = new_status

    def set_lines(self, lines: list[tuple[str, int, Money]]) -> None:
        """Replace the line items (description, quantity, unit price); drafts only."""
        if not self.is_editable:
            raise InvoiceStateError(f"Only draft invoices can be edited; this one is {self.status.replace('_', ' ')}.")
        if not lines:
            raise InvoiceStateError("An invoice needs at least one line item.")
        total = Money.zero(self.currency)
        new_lines = []
        for position, (description, quantity, unit_price) in enumerate(lines):
            if unit_price.currency != self.currency:
                raise InvoiceStateError("Every line must be in the invoice's currency.")
            total = total + unit_price * quantity
            new_lines.append(
                InvoiceLine(position=position, description=description, quantity=quantity,
                            unit_price_minor=unit_price.minor)
            )
        self.lines = new_lines
        self.total_minor = total.minor

    def change_currency(self, currency: str) -> None:
        if not self.is_editable:
            raise InvoiceStateError("Only draft invoices can change currency.")
        self.currency = currency

    def open(self) -> None:
        """Issue the invoice: from now on it changes only by payment or voiding."""
        if self.total_minor <= 0:
            raise InvoiceStateError("An invoice with nothing to pay cannot be issued.")
        self._move("open")
        self.opened_at = utcnow()

    def void(self) -> None:
        if self.status in ("paid", "overpaid", "partially_paid"):
            raise InvoiceStateError(
                f"A {self.status.replace('_', ' ')} invoice cannot be voided: money has been received."
            )
        self._move("void")
        self.voided_at = utcnow()

    def record_payment(self, amount: Money) -> None:
        """Add money received; the status follows the balance and never moves backwards."""
        if amount.currency != self.currency:
            raise InvoiceStateError(f"A {amount.currency} payment cannot settle a {self.currency} invoice.")
        if amount.minor <= 0:
            raise InvoiceStateError("A payment must be a positive amount.")
        paid = self.amount_paid_minor + amount.minor
        if paid < self.total_minor:
            new_status = "partially_paid"
        elif paid == self.total_minor:
            new_status = "paid"
        else:
            new_status = "overpaid"
        self._move(new_status)
        self.amount_paid_minor = paid
        if new_status in ("paid", "overpaid") and self.paid_at is None:
            self.paid_at = utcnow()

    @property
    def year(self) -> int:
        return int(self.number.split("-")[1])
