"""Customers and invoices. Amounts are integer minor units beside a currency code, never floats."""
from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, false, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .. import totals as totals_rules
from ..money import Money
from .types import UTCDateTime, utcnow


class InvoiceStateError(Exception):
    """A change the invoice's status does not allow; the message is shown to people as it is."""


class Customer(db.Model):
    """One version of a customer's details.

    An issued invoice points at the version it was issued to, which is never changed afterwards. Editing a
    customer that has issued invoices adds a new version and points every older one at it (`current_id`);
    a customer without issued invoices is edited in place. The current version has `current_id` NULL.
    """

    __tablename__ = "customers"
    # The invoice list sorted by customer walks this, then each customer's invoices (ix_invoices_customer).
    __table_args__ = (Index("ix_customers_lower_name", text("lower(name)"), "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The newest version of these details; NULL on the newest version itself.
    current_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)

    @property
    def is_current(self) -> bool:
        return self.current_id is None

    @property
    def key(self) -> int:
        """The id the customer is known by in URLs: its current version's."""
        return self.current_id or self.id


class TaxRate(db.Model):
    """A tax rate admins define and staff pick per line. Lines copy its name and percent, so
    archiving or editing a rate never changes an invoice already written."""

    __tablename__ = "tax_rates"
    __table_args__ = (
        CheckConstraint("percent_milli >= 0 AND percent_milli <= 100000", name="percent_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    percent_milli: Mapped[int] = mapped_column()   # thousandths of a percent: 8.875 % -> 8875
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def percent(self) -> str:
        return totals_rules.format_milli(self.percent_milli)

    @property
    def label(self) -> str:
        return self.name

    @classmethod
    def choices(cls, keep_ids=()) -> list["TaxRate"]:
        """Active rates, plus any archived ones an invoice being edited already uses."""
        keep_ids = [i for i in keep_ids if i]
        cond = cls.archived_at.is_(None)
        if keep_ids:
            cond = cond | cls.id.in_(keep_ids)
        return list(db.session.scalars(db.select(cls).where(cond).order_by(cls.name, cls.id)))


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
        CheckConstraint("quantity_milli > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(String(500))
    # Thousandths of a unit (1.5 hours -> 1500): exact, never a float.
    quantity_milli: Mapped[int] = mapped_column()
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    # The rate picked, and its name and percent as they were when the line was saved.
    tax_rate_id: Mapped[int | None] = mapped_column(ForeignKey("tax_rates.id"))
    tax_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    tax_percent_milli: Mapped[int] = mapped_column(default=0, server_default="0")

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    @property
    def quantity(self) -> str:
        return totals_rules.format_milli(self.quantity_milli)

    @property
    def unit_price(self) -> Money:
        return Money(self.unit_price_minor, self.invoice.currency)

    @property
    def amount(self) -> Money:
        """The line's net: quantity x unit price, rounded half-up (before discount and tax)."""
        return Money(totals_rules.line_net(self.quantity_milli, self.unit_price_minor), self.invoice.currency)

    def rule_input(self) -> totals_rules.LineInput:
        return totals_rules.LineInput(self.quantity_milli, self.unit_price_minor, self.tax_name,
                                      self.tax_percent_milli)


# Which status may follow which. Payments decide between partially_paid / paid / overpaid; refunds move an
# overpaid invoice to paid once the surplus is back, and any invoice whose money all went back to refunded.
# A refund never reopens an invoice: what was asked for was paid, and the merchant chose to give money back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"open", "void"}),
    "open": frozenset({"partially_paid", "paid", "overpaid", "void"}),
    "partially_paid": frozenset({"partially_paid", "paid", "overpaid", "refunded"}),
    "paid": frozenset({"overpaid", "refunded"}),
    "overpaid": frozenset({"overpaid", "paid", "refunded"}),
    "refunded": frozenset({"partially_paid", "paid", "overpaid"}),  # only if a refund fails after succeeding
    "void": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
FINAL_STATUSES = frozenset({"paid", "overpaid", "refunded", "void"})


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint("amount_paid_minor >= 0", name="paid_not_negative"),
        CheckConstraint("discount_percent_milli >= 0 AND discount_percent_milli <= 100000",
                        name="discount_percent_in_range"),
        CheckConstraint("discount_amount_minor >= 0", name="discount_amount_not_negative"),
        Index("ix_invoices_created", "created_at", "id"),
        Index("ix_invoices_status_created", "status", "created_at", "id"),
        # The invoice list's sort orders (portal/invoices/service.py SORT_COLUMNS), each ending on the id.
        # Descending with no due date last is ix_invoices_due_desc, on PostgreSQL only (migration e9a3c5d7b1f2).
        Index("ix_invoices_due", "due_date", "id"),
        Index("ix_invoices_currency_total", "currency", "total_minor", "id"),
        Index("ix_invoices_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
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
    # The invoice discount as entered: a percent (thousandths) or an amount; at most one is non-zero.
    discount_percent_milli: Mapped[int] = mapped_column(default=0, server_default="0")
    discount_amount_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Money that went back: succeeded refunds, and disputes lost (portal/payments/refunds.py keeps these).
    amount_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    amount_charged_back_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    def __init__(self, **kwargs):
        # Column defaults apply only at INSERT; a new invoice must be a draft from the first line.
        kwargs.setdefault("status", "draft")
        kwargs.setdefault("total_minor", 0)
        kwargs.setdefault("amount_paid_minor", 0)
        kwargs.setdefault("amount_refunded_minor", 0)
        kwargs.setdefault("amount_charged_back_minor", 0)
        kwargs.setdefault("discount_percent_milli", 0)
        kwargs.setdefault("discount_amount_minor", 0)
        super().__init__(**kwargs)

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    @property
    def amount_paid(self) -> Money:
        return Money(self.amount_paid_minor, self.currency)

    @property
    def amount_refunded(self) -> Money:
        return Money(self.amount_refunded_minor or 0, self.currency)

    @property
    def amount_charged_back(self) -> Money:
        return Money(self.amount_charged_back_minor or 0, self.currency)

    @property
    def collected_net(self) -> Money:
        """What the merchant keeps: paid, less refunds and lost disputes."""
        return Money(self.amount_paid_minor - (self.amount_refunded_minor or 0) - (self.amount_charged_back_minor or 0),
                     self.currency)

    @property
    def surplus(self) -> Money:
        """Paid beyond the total and not yet given back (an overpaid invoice's "Refund the extra")."""
        return Money(max(self.amount_paid_minor - (self.amount_refunded_minor or 0) - self.total_minor, 0),
                     self.currency)

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

    @property
    def discount_kind(self) -> str:
        if self.discount_percent_milli:
            return "percent"
        return "amount" if self.discount_amount_minor else ""

    def totals(self) -> totals_rules.Totals:
        """Subtotal, discount, tax per rate and total, by the rules in portal/invoices/totals.py."""
        return totals_rules.compute([line.rule_input() for line in self.lines],
                                    discount_percent_milli=self.discount_percent_milli or 0,
                                    discount_amount_minor=self.discount_amount_minor or 0)

    def set_lines(self, lines, discount_percent_milli: int = 0, discount_amount_minor: int = 0) -> None:
        """Replace the line items and the discount, and compute the total; drafts only.

        Each line is (description, quantity_milli, unit price, tax rate or None).
        """
        if not self.is_editable:
            raise InvoiceStateError(f"Only draft invoices can be edited; this one is {self.status.replace('_', ' ')}.")
        if not lines:
            raise InvoiceStateError("An invoice needs at least one line item.")
        new_lines = []
        for position, (description, quantity_milli, unit_price, rate) in enumerate(lines):
            if unit_price.currency != self.currency:
                raise InvoiceStateError("Every line must be in the invoice's currency.")
            new_lines.append(
                InvoiceLine(position=position, description=description, quantity_milli=quantity_milli,
                            unit_price_minor=unit_price.minor, tax_rate_id=rate.id if rate else None,
                            tax_name=rate.name if rate else "", tax_percent_milli=rate.percent_milli if rate else 0)
            )
        self.lines = new_lines
        self.discount_percent_milli = discount_percent_milli
        self.discount_amount_minor = discount_amount_minor
        # The amount every gateway is asked for comes from here: the same function as the form's total.
        self.total_minor = self.totals().total_minor

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

    def settle_money_back(self, refunded_minor: int, charged_back_minor: int) -> None:
        """Take in the sums of succeeded refunds and lost disputes (recomputed from their rows by the caller) and
        let the status follow: everything paid given back is `refunded`; an overpaid invoice whose surplus went
        back is `paid`. Money still due stays due (a refund never reopens collection); void stays void."""
        self.amount_refunded_minor, self.amount_charged_back_minor = refunded_minor, charged_back_minor
        if self.status in ("draft", "open", "void") or self.amount_paid_minor <= 0:
            return
        paid, kept = self.amount_paid_minor, self.amount_paid_minor - refunded_minor
        if refunded_minor >= paid:
            new_status = "refunded"
        elif paid < self.total_minor:
            new_status = "partially_paid"
        elif kept > self.total_minor:
            new_status = "overpaid"
        else:
            new_status = "paid"
        if new_status != self.status:
            self._move(new_status)

    @property
    def year(self) -> int:
        return int(self.number.split("-")[1])
