"""Needs attention for money going back (issue 12): disputes to answer, most urgent first, until decided; refunds
that failed or are stuck; refunds that bounced or came in another currency. Payments arrive through the ledger
as a verified webhook hands them over; refunds and disputes are written as the gateways report them
(portal/payments/refunds.py apply_refund / apply_dispute)."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.merchant import merchant_settings
from portal.models import Dispute, Payment, PaymentMismatch, Refund, utcnow
from portal.money import Money
from portal.payments import refunds
from portal.payments.base import (DISPUTE_LOST, DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, REFUND_FAILED,
                                  REFUND_PENDING, REFUND_SUCCEEDED, GatewayDispute, GatewayRefund)

from .test_attention import _items, _nav_count, _pay


@pytest.fixture
def paid(make_invoice):
    """Three INR invoices of 2,469.00, each paid in full through Razorpay."""
    found = []
    for n in range(3):
        invoice = make_invoice(currency="INR", open_it=True)
        assert _pay(invoice, f"pay_att_{n}")[0] == "applied"
        found.append((invoice, db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)).one()))
    return found


def dispute(payment, dispute_id, status=DISPUTE_OPEN, respond_by=None, minor=246900, reason="product_not_received"):
    outcome = refunds.apply_dispute(GatewayDispute("razorpay", dispute_id, payment.payment_id, Money(minor, "INR"),
                                                   status, reason, respond_by), "webhook")
    db.session.commit()
    assert outcome[0] == "applied", outcome


def refund(payment, refund_id, status, minor=1000, reason="", row_id=None, reference=None):
    outcome = refunds.apply_refund(GatewayRefund("razorpay", refund_id, payment.payment_id, Money(minor, "INR"),
                                                 status, reference, reason), "webhook", row_id=row_id)
    db.session.commit()
    return outcome


def asked_here(payment, reference, minor=1000, source="portal"):
    """The `requested` row request_refund writes before it calls the gateway."""
    row = Refund(payment_row_id=payment.id, invoice_id=payment.invoice_id, gateway="razorpay", reference=reference,
                 currency="INR", amount_minor=minor, status="requested", source=source)
    db.session.add(row)
    db.session.commit()
    return row


def local(moment):
    return merchant_settings().local(moment).strftime("%d %b %Y %H:%M")


def texts(page):
    """Each item's text, in the page's order, tags removed."""
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li))).strip()
            for li in re.findall(r'<li class="attention-item[^"]*">(.*?)</li>', page, re.S)]


def test_open_disputes_are_listed_most_urgent_first_with_their_deadline_until_decided(paid, signed_in_staff):
    (inv_a, pay_a), (inv_b, pay_b), (inv_c, pay_c) = paid
    now = utcnow()
    later, overdue = now + timedelta(days=3, hours=2), now - timedelta(days=1, hours=1)
    dispute(pay_c, "disp_review", DISPUTE_UNDER_REVIEW, respond_by=now - timedelta(days=2))
    dispute(pay_a, "disp_later", respond_by=later, reason="fraudulent")
    dispute(pay_b, "disp_overdue", respond_by=overdue, minor=100000)

    page, kinds = _items(signed_in_staff)
    assert kinds == ["dispute_overdue", "dispute", "dispute"]
    assert _nav_count(page) == 3
    first, second, third = texts(page)
    assert "₹1,000.00 of invoice " + inv_b.number in first and f"Overdue: the response was due {local(overdue)}" in first
    assert "25 hours ago" in first and "customer's bank" in first
    assert f"₹2,469.00 of invoice {inv_a.number}" in second and f"Respond by {local(later)} (in 3 days)" in second
    assert "reason: fraudulent" in second and "Do not refund" in second
    assert inv_c.number in third and "under review" in third and "nothing to do" in third
    assert f'href="/invoices/{inv_a.id}"' in page

    dispute(pay_a, "disp_later", DISPUTE_WON, respond_by=later)
    page, kinds = _items(signed_in_staff)
    assert kinds == ["dispute_overdue", "dispute"] and _nav_count(page) == 2
    assert f"Respond by {local(later)}" not in page
    # Decided disputes are shown apart, for information, and not counted.
    decided = page.split('id="decided-h"')[1]
    assert "Won" in decided and inv_a.number in decided

    dispute(pay_b, "disp_overdue", DISPUTE_LOST, respond_by=overdue, minor=100000)
    page, kinds = _items(signed_in_staff)
    assert kinds == ["dispute"] and _nav_count(page) == 1
    assert "Lost" in page.split('id="decided-h"')[1] and "charged back" in page


def test_failed_refunds_asked_for_here_are_listed_with_the_gateways_words(paid, signed_in_staff):
    (inv_a, pay_a), (inv_b, pay_b), (inv_c, pay_c) = paid
    row = asked_here(pay_a, "hp_rf_att_1", minor=50000)
    assert refund(pay_a, "rfnd_att_1", REFUND_FAILED, minor=50000, reason="The bank account is closed",
                  row_id=row.id, reference=row.reference)[0] == "applied"
    # Made at the gateway's dashboard and failed there: not ours to chase.
    refund(pay_b, "rfnd_att_dash", REFUND_FAILED, reason="insufficient balance")
    # Ours, but failed more than a week ago.
    old = asked_here(pay_c, "hp_rf_att_old")
    refund(pay_c, "rfnd_att_old", REFUND_FAILED, reason="expired card", row_id=old.id, reference=old.reference)
    old = db.session.get(Refund, old.id)
    old.settled_at = utcnow() - timedelta(days=8)
    db.session.commit()

    page, kinds = _items(signed_in_staff)
    assert kinds == ["refund_failed"] and _nav_count(page) == 1
    [text] = texts(page)
    assert f"Refund failed: ₹500.00 for invoice {inv_a.number}" in text and "The bank account is closed" in text
    assert "insufficient balance" not in page and "expired card" not in page

    # A new refund of that payment is asked for and goes through: the failure has been dealt with.
    again = asked_here(pay_a, "hp_rf_att_2", minor=50000)
    refund(pay_a, "rfnd_att_2", REFUND_SUCCEEDED, minor=50000, row_id=again.id, reference=again.reference)
    page, kinds = _items(signed_in_staff)
    assert kinds == [] and _nav_count(page) == 0


def test_refunds_stuck_for_a_day_are_listed(paid, signed_in_staff):
    (inv_a, pay_a), (inv_b, pay_b), (inv_c, pay_c) = paid
    lost_answer = asked_here(pay_a, "hp_rf_att_lost", source="api")
    pending = asked_here(pay_b, "hp_rf_att_pend")
    refund(pay_b, "rfnd_att_pend", REFUND_PENDING, row_id=pending.id, reference=pending.reference)
    fresh = asked_here(pay_c, "hp_rf_att_fresh")  # asked for a minute ago: nothing wrong yet
    assert _items(signed_in_staff)[1] == []

    for row in (lost_answer, pending):
        row = db.session.get(Refund, row.id)
        row.created_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    page, kinds = _items(signed_in_staff)
    assert kinds == ["refund_stuck", "refund_stuck"] and _nav_count(page) == 2
    first, second = texts(page)
    assert f"Refund not confirmed: ₹10.00 for invoice {inv_a.number}" in first and "hp_rf_att_lost" in first
    assert f"Refund still pending: ₹10.00 for invoice {inv_b.number}" in second and "rfnd_att_pend" in second
    assert db.session.get(Refund, fresh.id).status == "requested"

    refund(pay_b, "rfnd_att_pend", REFUND_SUCCEEDED, row_id=pending.id, reference=pending.reference)
    assert _items(signed_in_staff)[1] == ["refund_stuck"]


def test_refund_mismatches_are_in_words(paid, signed_in_staff):
    (inv_a, pay_a), (inv_b, pay_b), _ = paid
    row = asked_here(pay_a, "hp_rf_att_rev", minor=246900)
    refund(pay_a, "rfnd_att_rev", REFUND_SUCCEEDED, minor=246900, row_id=row.id, reference=row.reference)
    refund(pay_a, "rfnd_att_rev", REFUND_FAILED, minor=246900, reason="account closed")  # bounced
    outcome = refunds.apply_refund(GatewayRefund("razorpay", "rfnd_att_usd", pay_b.payment_id, Money(500, "USD"),
                                                 REFUND_SUCCEEDED), "webhook")
    db.session.commit()
    assert outcome[0] == "mismatch"
    assert {m.kind for m in db.session.scalars(db.select(PaymentMismatch))} == {"refund_reversed", "refund_currency"}

    page, kinds = _items(signed_in_staff)
    # The bounced refund is one item (the mismatch), not also a failed refund.
    assert sorted(kinds) == ["refund_currency", "refund_reversed"] and _nav_count(page) == 2
    assert f"A refund bounced back for invoice {inv_a.number}" in page and "Ask the customer how they want it back" in page
    assert f"A refund in another currency for invoice {inv_b.number}" in page
    assert "Refund_reversed" not in page and "Refund_currency" not in page  # not the fallback's raw kind
