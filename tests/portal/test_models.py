"""Invoice status transitions are guarded on the model; numbering stays gap-free under concurrency."""
import threading

import pytest

from portal.extensions import db
from portal.models import TRANSITIONS, InvoiceSequence, InvoiceStateError
from portal.money import Money


def test_draft_opens_and_only_drafts_edit(make_invoice):
    invoice = make_invoice()
    assert invoice.status == "draft" and invoice.is_editable
    invoice.open()
    assert invoice.status == "open" and invoice.opened_at is not None
    with pytest.raises(InvoiceStateError, match="Only draft invoices can be edited"):
        invoice.set_lines([("Changed", 1000, Money(100, "INR"), None)])
    with pytest.raises(InvoiceStateError):
        invoice.open()


def test_payments_move_status_forward_only(make_invoice):
    invoice = make_invoice(open_it=True)  # 2 x 1234.50 = 2469.00
    invoice.record_payment(Money.parse("1000.00", "INR"))
    assert invoice.status == "partially_paid" and invoice.amount_due == Money.parse("1469.00", "INR")
    invoice.record_payment(Money.parse("1469.00", "INR"))
    assert invoice.status == "paid" and invoice.paid_at is not None
    invoice.record_payment(Money.parse("1.00", "INR"))
    assert invoice.status == "overpaid" and invoice.amount_paid_minor == 247000


def test_paid_invoice_cannot_be_voided_or_edited(make_invoice):
    invoice = make_invoice(open_it=True)
    invoice.record_payment(invoice.total)
    with pytest.raises(InvoiceStateError, match="cannot be voided"):
        invoice.void()
    with pytest.raises(InvoiceStateError):
        invoice.set_lines([("x", 1000, Money(1, "INR"), None)])
    assert invoice.status == "paid"


def test_partially_paid_cannot_be_voided(make_invoice):
    invoice = make_invoice(open_it=True)
    invoice.record_payment(Money(100, "INR"))
    with pytest.raises(InvoiceStateError, match="money has been received"):
        invoice.void()


def test_void_is_final(make_invoice):
    invoice = make_invoice()
    invoice.void()
    for action in (invoice.open, invoice.void, lambda: invoice.record_payment(Money(1, "INR"))):
        with pytest.raises(InvoiceStateError):
            action()
    assert invoice.status == "void"


def test_draft_cannot_take_payment_and_wrong_currency_is_refused(make_invoice):
    draft = make_invoice()
    with pytest.raises(InvoiceStateError):
        draft.record_payment(Money(100, "INR"))
    opened = make_invoice(open_it=True)
    with pytest.raises(InvoiceStateError, match="USD payment cannot settle a INR invoice"):
        opened.record_payment(Money(100, "USD"))
    assert opened.amount_paid_minor == 0


def test_every_status_has_its_transitions_declared():
    assert set(TRANSITIONS) == {"draft", "open", "partially_paid", "paid", "overpaid", "refunded", "void"}
    assert not TRANSITIONS["void"]
    assert "void" not in TRANSITIONS["refunded"] and "open" not in TRANSITIONS["refunded"]
    assert "open" not in TRANSITIONS["paid"] and "draft" not in TRANSITIONS["open"]


def test_numbers_stay_unique_and_gap_free_under_concurrent_creation(app, make_invoice):
    """Eight requests take numbers at once (on PostgreSQL they truly race; SQLite serialises them)."""
    year = 2031
    numbers, errors = [], []

    def take():
        with app.app_context():
            try:
                numbers.append(InvoiceSequence.next_number(year))
                db.session.commit()
            except Exception as exc:  # collected and asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == [f"INV-{year}-{n:04d}" for n in range(1, 9)]
