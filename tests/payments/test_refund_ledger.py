"""What the gateways report about money going back, applied once and forward only, whatever the order of arrival
(portal/payments/refunds.py apply_refund / apply_dispute / settle, on the real database)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.extensions import db
from portal.models import Dispute, Invoice, Payment, PaymentMismatch, Refund
from portal.models.invoices import InvoiceStateError
from portal.money import Money
from portal.payments import refunds
from portal.payments.base import (DISPUTE_LOST, DISPUTE_OPEN, DISPUTE_UNDER_REVIEW, DISPUTE_WON, REFUND_FAILED,
                                  REFUND_PENDING, REFUND_SUCCEEDED, GatewayDispute, GatewayRefund)


@pytest.fixture
def paid_payment(app, make_invoice):
    """A 2,469.00 INR invoice paid in full by one Razorpay payment."""
    invoice = make_invoice(currency="INR", open_it=True)
    invoice.record_payment(invoice.total)
    payment = Payment(invoice_id=invoice.id, gateway="razorpay", payment_id="pay_ledger_1", currency="INR",
                      amount_minor=invoice.total_minor, source="webhook")
    db.session.add(payment)
    db.session.commit()
    return payment


def refund(status=REFUND_SUCCEEDED, refund_id="rfnd_1", amount=1000, reference=None, payment_id="pay_ledger_1",
           currency="INR", reason=""):
    return GatewayRefund("razorpay", refund_id, payment_id, Money(amount, currency), status, reference, reason)


def dispute(status=DISPUTE_OPEN, amount=246900, respond_by=None):
    return GatewayDispute("razorpay", "disp_1", "pay_ledger_1", Money(amount, "INR"), status, "fraudulent",
                          respond_by)


def state(payment):
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    invoice = db.session.get(Invoice, payment.invoice_id)
    return payment.status, payment.amount_refunded_minor, invoice.status, invoice.amount_refunded_minor


def test_a_refund_reported_five_times_is_recorded_once(paid_payment):
    outcomes = []
    for _ in range(5):
        outcomes.append(refunds.apply_refund(refund(), "webhook")[0])
        db.session.commit()
    assert outcomes == ["applied"] + ["duplicate"] * 4
    [row] = db.session.scalars(db.select(Refund)).all()
    assert (row.status, row.amount_minor, row.source, row.reference) == ("succeeded", 1000, "webhook", None)
    assert state(paid_payment) == ("partially_refunded", 1000, "paid", 1000)


def test_refund_states_move_forward_only_whatever_the_order(paid_payment):
    refunds.apply_refund(refund(REFUND_SUCCEEDED), "webhook")
    db.session.commit()
    assert refunds.apply_refund(refund(REFUND_PENDING), "webhook")[0] == "duplicate"  # late refund.created
    db.session.commit()
    assert db.session.scalar(db.select(Refund.status)) == "succeeded"
    assert state(paid_payment) == ("partially_refunded", 1000, "paid", 1000)


def test_a_refund_that_fails_after_succeeding_gives_the_money_back_and_is_flagged(paid_payment):
    refunds.apply_refund(refund(REFUND_SUCCEEDED, amount=246900), "webhook")
    db.session.commit()
    assert state(paid_payment) == ("refunded", 246900, "refunded", 246900)
    refunds.apply_refund(refund(REFUND_FAILED, amount=246900, reason="card closed"), "webhook")
    db.session.commit()
    assert state(paid_payment) == ("captured", 0, "paid", 0)
    row = db.session.scalar(db.select(Refund))
    assert (row.status, row.failure) == ("failed", "card closed")
    assert db.session.scalar(db.select(PaymentMismatch.kind)) == "refund_reversed"


def test_a_webhook_that_beats_our_own_answer_lands_on_our_row(paid_payment, admin):
    """We wrote the request; the gateway's refund.created (carrying our reference) arrives before its answer."""
    row = Refund(payment_row_id=paid_payment.id, invoice_id=paid_payment.invoice_id, gateway="razorpay",
                 reference="hp_rf_ours", currency="INR", amount_minor=1000, status="requested", source="portal")
    db.session.add(row)
    db.session.commit()
    refunds.apply_refund(refund(REFUND_PENDING, reference="hp_rf_ours"), "webhook")
    db.session.commit()
    refunds.apply_refund(refund(REFUND_SUCCEEDED), "portal", row_id=row.id)  # then our own call's answer
    db.session.commit()
    [only] = db.session.scalars(db.select(Refund)).all()
    assert (only.id, only.refund_id, only.status, only.source) == (row.id, "rfnd_1", "succeeded", "portal")


def test_a_refund_recorded_as_made_elsewhere_is_folded_into_ours(paid_payment):
    """The webhook carried no reference, so it was recorded as a dashboard refund; our answer then names it."""
    ours = Refund(payment_row_id=paid_payment.id, invoice_id=paid_payment.invoice_id, gateway="razorpay",
                  reference="hp_rf_ours", currency="INR", amount_minor=1000, status="requested", source="api")
    db.session.add(ours)
    db.session.commit()
    refunds.apply_refund(refund(REFUND_SUCCEEDED), "webhook")  # no reference: a second row for now
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Refund.id))) == 2
    refunds.apply_refund(refund(REFUND_PENDING), "api", row_id=ours.id)
    db.session.commit()
    [only] = db.session.scalars(db.select(Refund)).all()
    assert (only.id, only.refund_id, only.status) == (ours.id, "rfnd_1", "succeeded")
    assert state(paid_payment) == ("partially_refunded", 1000, "paid", 1000)


def test_refunds_of_unknown_payments_or_in_another_currency_change_nothing(paid_payment):
    assert refunds.apply_refund(refund(payment_id="pay_not_ours"), "webhook")[0] == "unknown_object"
    assert refunds.apply_refund(refund(currency="USD"), "webhook")[0] == "mismatch"
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(Refund.id))) == 0
    assert db.session.scalar(db.select(PaymentMismatch.kind)) == "refund_currency"
    assert state(paid_payment) == ("captured", 0, "paid", 0)


def test_a_dispute_opened_reviewed_and_lost_is_one_row_and_lowers_what_was_kept(paid_payment):
    deadline = datetime(2026, 12, 20, 18, 30, tzinfo=timezone.utc)
    assert refunds.apply_dispute(dispute(DISPUTE_OPEN, respond_by=deadline), "webhook")[0] == "applied"
    assert refunds.apply_dispute(dispute(DISPUTE_OPEN, respond_by=deadline), "webhook")[0] == "duplicate"
    db.session.commit()
    assert state(paid_payment)[0] == "disputed"
    refunds.apply_dispute(dispute(DISPUTE_UNDER_REVIEW), "webhook")
    refunds.apply_dispute(dispute(DISPUTE_LOST), "webhook")
    db.session.commit()
    assert refunds.apply_dispute(dispute(DISPUTE_OPEN), "webhook")[0] == "duplicate"  # a late "created"
    db.session.commit()
    [row] = db.session.scalars(db.select(Dispute)).all()
    assert (row.status, row.respond_by, row.reason) == ("lost", deadline, "fraudulent")
    assert row.closed_at is not None
    invoice = db.session.get(Invoice, paid_payment.invoice_id)
    assert (invoice.status, invoice.amount_charged_back_minor, invoice.collected_net.minor) == ("paid", 246900, 0)
    assert db.session.get(Payment, paid_payment.id).status == "charged_back"


def test_a_won_dispute_leaves_the_money_and_frees_the_payment_for_refunds(paid_payment):
    refunds.apply_dispute(dispute(DISPUTE_OPEN), "webhook")
    db.session.commit()
    payment = db.session.get(Payment, paid_payment.id)
    assert "disputed" in refunds.why_not_refundable(payment)
    refunds.apply_dispute(dispute(DISPUTE_WON), "webhook")
    db.session.commit()
    db.session.expire_all()
    payment = db.session.get(Payment, paid_payment.id)
    assert payment.status == "captured" and refunds.refundable(payment).minor == 246900
    assert db.session.get(Invoice, payment.invoice_id).amount_charged_back_minor == 0


def test_what_is_left_counts_pending_and_requested_refunds_but_not_failed_ones(paid_payment):
    for status, amount in (("requested", 100), ("pending", 200), ("succeeded", 300), ("failed", 400)):
        db.session.add(Refund(payment_row_id=paid_payment.id, invoice_id=paid_payment.invoice_id, gateway="razorpay",
                              currency="INR", amount_minor=amount, status=status, source="portal"))
    db.session.commit()
    payment = db.session.get(Payment, paid_payment.id)
    assert refunds.refundable(payment) == Money(246900 - 600, "INR")


# ---- the invoice's status follows its money (pure model rules) -------------------------------------------

def _invoice(status: str, total: int, paid: int) -> Invoice:
    return Invoice(currency="INR", status=status, total_minor=total, amount_paid_minor=paid)


@pytest.mark.parametrize("before, total, paid, refunded, after", [
    ("paid", 1000, 1000, 0, "paid"),
    ("paid", 1000, 1000, 400, "paid"),              # partly given back: still paid, nothing due again
    ("paid", 1000, 1000, 1000, "refunded"),
    ("overpaid", 1000, 1500, 500, "paid"),          # the surplus went back
    ("overpaid", 1000, 1500, 200, "overpaid"),      # part of the surplus
    ("overpaid", 1000, 1500, 700, "paid"),          # more than the surplus: the merchant chose to
    ("overpaid", 1000, 1500, 1500, "refunded"),
    ("partially_paid", 1000, 400, 400, "refunded"),
    ("partially_paid", 1000, 400, 100, "partially_paid"),
    ("refunded", 1000, 1000, 0, "paid"),            # a refund that failed after succeeding
    ("void", 1000, 1000, 1000, "void"),             # money on a void invoice given back: still void
])
def test_the_invoice_status_follows_refunds(before, total, paid, refunded, after):
    invoice = _invoice(before, total, paid)
    invoice.settle_money_back(refunded, 0)
    assert (invoice.status, invoice.amount_refunded_minor) == (after, refunded)


def test_a_refunded_invoice_is_final_and_cannot_be_voided():
    invoice = _invoice("refunded", 1000, 1000)
    assert invoice.is_final and not invoice.can_void
    with pytest.raises(InvoiceStateError):
        invoice.void()


def test_surplus_is_what_was_paid_beyond_the_total_and_not_yet_given_back():
    invoice = _invoice("overpaid", 1000, 1500)
    invoice.amount_refunded_minor = 200
    assert invoice.surplus == Money(300, "INR") and invoice.collected_net == Money(1300, "INR")
