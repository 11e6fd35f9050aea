"""Customers: finding them, what they owe and have paid, and editing their details.

A customer is known by its current version's id (`Customer.key`); its older versions are the rows whose
`current_id` points at it. Invoices and payments belong to the customer through any of its versions.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, or_

from ..extensions import db
from ..models import AuditEvent, Customer, Invoice, Payment, User

OWING_STATUSES = ("open", "partially_paid")
ISSUED_STATUSES = ("open", "partially_paid", "paid", "overpaid", "refunded")
SEARCH_LIMIT = 10  # options the invoice form's picker shows at once
RECENT_LIMIT = 50  # invoices and payments shown on a customer's page


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_query(q: str):
    """Current customers whose name, email or phone contains `q`, by name."""
    stmt = db.select(Customer).where(Customer.current_id.is_(None))
    q = q.strip()
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(or_(func.lower(Customer.name).like(pattern, escape="\\"),
                              Customer.email.like(pattern, escape="\\"),
                              Customer.phone.like(pattern, escape="\\")))
    return stmt.order_by(func.lower(Customer.name), Customer.id)


def _key_column():
    return func.coalesce(Customer.current_id, Customer.id)


def outstanding_by_customer(keys: list[int]) -> dict[int, dict[str, int]]:
    """{customer key: {currency: minor units still owed}} over open and part-paid invoices, in one query."""
    if not keys:
        return {}
    key = _key_column().label("key")
    rows = db.session.execute(
        db.select(key, Invoice.currency, func.sum(Invoice.total_minor - Invoice.amount_paid_minor))
        .join(Customer, Customer.id == Invoice.customer_id)
        # Matching id or current_id (rather than the COALESCE) lets both use their indexes.
        .where(Invoice.status.in_(OWING_STATUSES), or_(Customer.id.in_(keys), Customer.current_id.in_(keys)))
        .group_by(key, Invoice.currency)
        .order_by(Invoice.currency)
    )
    owed: dict[int, dict[str, int]] = defaultdict(dict)
    for customer_key, currency, minor in rows:
        if minor:
            owed[customer_key][currency] = int(minor)
    return owed


def version_ids(customer: Customer):
    """A subquery of the ids of every version of `customer` (a current one)."""
    return db.select(Customer.id).where(or_(Customer.id == customer.id, Customer.current_id == customer.id))


def invoices_of(customer: Customer, limit: int = RECENT_LIMIT) -> list[Invoice]:
    return list(db.session.scalars(
        db.select(Invoice).where(Invoice.customer_id.in_(version_ids(customer)))
        .order_by(Invoice.created_at.desc(), Invoice.id.desc()).limit(limit)
    ))


def payments_of(customer: Customer, limit: int = RECENT_LIMIT) -> list[Payment]:
    return list(db.session.scalars(
        db.select(Payment).join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.customer_id.in_(version_ids(customer)))
        .order_by(Payment.received_at.desc(), Payment.id.desc()).limit(limit)
    ))


@dataclass
class CurrencyTotals:
    currency: str
    invoiced: int = 0     # issued invoices, void and drafts left out
    paid: int = 0         # money received, from the payments ledger
    outstanding: int = 0  # still owed on open and part-paid invoices


def totals_of(customer: Customer) -> list[CurrencyTotals]:
    """Per currency, over every invoice and payment of the customer, computed by the database."""
    versions = version_ids(customer)
    totals: dict[str, CurrencyTotals] = {}

    def row(currency: str) -> CurrencyTotals:
        return totals.setdefault(currency, CurrencyTotals(currency))

    issued = db.session.execute(
        db.select(Invoice.currency, func.sum(Invoice.total_minor),
                  func.sum(Invoice.total_minor - Invoice.amount_paid_minor).filter(Invoice.status.in_(OWING_STATUSES)))
        .where(Invoice.customer_id.in_(versions), Invoice.status.in_(ISSUED_STATUSES))
        .group_by(Invoice.currency)
    )
    for currency, invoiced, outstanding in issued:
        row(currency).invoiced = int(invoiced or 0)
        row(currency).outstanding = int(outstanding or 0)
    received = db.session.execute(
        db.select(Payment.currency, func.sum(Payment.amount_minor))
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.customer_id.in_(versions))
        .group_by(Payment.currency)
    )
    for currency, paid in received:
        row(currency).paid = int(paid or 0)
    return [totals[c] for c in sorted(totals)]


def _has_issued_invoices(customer: Customer) -> bool:
    return db.session.scalar(
        db.select(func.count(Invoice.id))
        .where(Invoice.customer_id.in_(version_ids(customer)), Invoice.status != "draft")
    ) > 0


def update_customer(customer: Customer, name: str, email: str, phone: str, actor: User) -> Customer:
    """Change a current customer's details; returns the version that now holds them.

    Issued invoices keep the version they were issued to: when there are any, the new details go into a
    new version that every older one points at, and the customer's drafts move to it (they are not issued
    yet, so they should go out with the new details). Without issued invoices the row changes in place.
    """
    if (customer.name, customer.email, customer.phone) == (name, email, phone):
        return customer
    before = f"{customer.name} <{customer.email}> {customer.phone}".strip()
    if not _has_issued_invoices(customer):
        customer.name, customer.email, customer.phone = name, email, phone
        current = customer
    else:
        current = Customer(name=name, email=email, phone=phone)
        db.session.add(current)
        db.session.flush()
        old_ids = db.session.scalars(version_ids(customer)).all()
        db.session.execute(
            db.update(Invoice).where(Invoice.customer_id.in_(old_ids), Invoice.status == "draft")
            .values(customer_id=current.id).execution_options(synchronize_session="fetch")
        )
        db.session.execute(
            db.update(Customer).where(Customer.id.in_(old_ids)).values(current_id=current.id)
            .execution_options(synchronize_session="fetch")
        )
    AuditEvent.record(actor, "customer.updated", "customer", current.id,
                      f"{before} → {name} <{email}> {phone}".strip())
    db.session.commit()
    return current
