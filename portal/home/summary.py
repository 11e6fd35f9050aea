"""The numbers on Home, each from one aggregate query (SUM/COUNT grouped by currency or day), so the page
costs the same with ten invoices or ten thousand. Days are the merchant's days (merchant_settings().zone).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func
from sqlalchemy.orm import aliased

from ..extensions import db
from ..merchant import MerchantProfile
from ..models import Customer, Dispute, Invoice, Payment, Refund
from ..models import ledger as money_rows
from ..money import Money

UNPAID_STATUSES = ("open", "partially_paid")
CHART_DAYS = 30
LATEST_PAYMENTS = 8


@dataclass
class CurrencySummary:
    currency: str
    outstanding: Money
    overdue_count: int
    overdue: Money
    collected: Money                     # over the chart's days: money that arrived, as the chart draws it
    daily: list[Money] = field(default_factory=list)  # one per day, oldest first
    refunded: Money | None = None        # refunds that went through over the same days (Statistics' "refunded")
    charged_back: Money | None = None    # disputes lost over the same days

    @property
    def net(self) -> Money:
        """Collected less refunded and charged back: what the merchant kept of these days' money movements."""
        back = (self.refunded.minor if self.refunded else 0) + (self.charged_back.minor if self.charged_back else 0)
        return Money(self.collected.minor - back, self.currency)

    @property
    def money_back(self) -> bool:
        return bool((self.refunded and self.refunded.minor) or (self.charged_back and self.charged_back.minor))


@dataclass(frozen=True)
class Home:
    today: date
    days: list[date]
    currencies: list[CurrencySummary]
    latest_payments: list
    attention: int


def _unpaid_by_currency(today: date) -> dict[str, tuple[int, int, int]]:
    """currency -> (outstanding, overdue amount, overdue count), in minor units. Overdue: due before
    the merchant's today, so an invoice due today is not overdue until the merchant's midnight."""
    due = Invoice.total_minor - Invoice.amount_paid_minor
    late = and_(Invoice.due_date.is_not(None), Invoice.due_date < today)
    rows = db.session.execute(
        db.select(Invoice.currency, func.sum(due), func.sum(case((late, due), else_=0)),
                  func.sum(case((late, 1), else_=0)))
        .where(Invoice.status.in_(UNPAID_STATUSES))
        .group_by(Invoice.currency))
    return {currency: (int(total or 0), int(late_total or 0), int(late_count or 0))
            for currency, total, late_total, late_count in rows}


def _collected_by_day(profile: MerchantProfile, days: list[date]) -> dict[str, list[int]]:
    """currency -> minor units received on each of `days` (the merchant's local days, DST included).

    Each payment's day is found in SQL by comparing with the UTC instants the merchant's days begin;
    that works the same on SQLite and PostgreSQL, which share no time-zone arithmetic."""
    starts = [profile.start_of(day) for day in days] + [profile.start_of(days[-1] + timedelta(days=1))]
    day_index = case(*[(Payment.received_at < starts[i + 1], i) for i in range(len(days))])
    rows = db.session.execute(
        db.select(Payment.currency, day_index.label("day"), func.sum(Payment.amount_minor))
        .where(Payment.received_at >= starts[0], Payment.received_at < starts[-1])
        .group_by(Payment.currency, day_index))
    collected: dict[str, list[int]] = {}
    for currency, index, amount in rows:
        collected.setdefault(currency, [0] * len(days))[int(index)] += int(amount or 0)
    return collected


def _money_back(profile: MerchantProfile, days: list[date]) -> dict[str, tuple[int, int]]:
    """currency -> (refunded, charged back) in minor units over `days`: refunds that succeeded, by when they
    settled, and disputes lost, by when they closed (as the Statistics page counts them)."""
    lo, hi = profile.start_of(days[0]), profile.start_of(days[-1] + timedelta(days=1))
    back: dict[str, list[int]] = {}
    for currency, amount in db.session.execute(
            db.select(Refund.currency, func.sum(Refund.amount_minor))
            .where(Refund.status == money_rows.REFUND_SUCCEEDED, Refund.succeeded_at >= lo, Refund.succeeded_at < hi)
            .group_by(Refund.currency)):
        back.setdefault(currency, [0, 0])[0] += int(amount or 0)
    for currency, amount in db.session.execute(
            db.select(Dispute.currency, func.sum(Dispute.amount_minor))
            .where(Dispute.status == money_rows.DISPUTE_LOST, Dispute.closed_at >= lo, Dispute.closed_at < hi)
            .group_by(Dispute.currency)):
        back.setdefault(currency, [0, 0])[1] += int(amount or 0)
    return {currency: (refunded, lost) for currency, (refunded, lost) in back.items()}


def latest_payments(limit: int = LATEST_PAYMENTS) -> list:
    """The newest payments with their invoice number and customer; rows have .Payment, .number, .customer_name.
    The newest few are picked first (index on received_at), then joined, so the cost does not grow."""
    newest = db.select(Payment).order_by(Payment.received_at.desc(), Payment.id.desc()).limit(limit).subquery()
    payment = aliased(Payment, newest, name="Payment")
    return db.session.execute(
        db.select(payment, Invoice.number, Customer.name.label("customer_name"))
        .join(Invoice, payment.invoice_id == Invoice.id).join(Customer, Invoice.customer_id == Customer.id)
        .order_by(payment.received_at.desc(), payment.id.desc())).all()


def needs_attention_count() -> int:
    """The Needs attention page's count (portal/attention/items.py), the same number the navigation shows."""
    from ..attention.items import count

    return count()


def build_home(profile: MerchantProfile, at: datetime | None = None) -> Home:
    """Home's numbers now (or as they were at the instant `at`), in the merchant's days."""
    today = profile.today(at)
    days = [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    unpaid = _unpaid_by_currency(today)
    collected = _collected_by_day(profile, days)
    back = _money_back(profile, days)
    codes = sorted(set(unpaid) | set(collected) | set(back), key=lambda c: (c != profile.default_currency, c))
    currencies = []
    for code in codes:
        outstanding, late, late_count = unpaid.get(code, (0, 0, 0))
        daily = collected.get(code, [0] * len(days))
        refunded, lost = back.get(code, (0, 0))
        currencies.append(CurrencySummary(code, Money(outstanding, code), late_count, Money(late, code),
                                          Money(sum(daily), code), [Money(m, code) for m in daily],
                                          Money(refunded, code), Money(lost, code)))
    return Home(today, days, currencies, latest_payments(), needs_attention_count())
