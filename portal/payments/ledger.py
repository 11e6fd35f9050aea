"""Turning verified gateway news into invoice state, exactly once (issue 5).

Three doors lead here: webhooks, the customer's return page, and reconciliation. Each hands over what the
gateway said; this module checks it against the link and invoice (gateway, currency, amount), records the
payment under a unique (gateway, payment id), moves the invoice forward only (never backwards, whatever the
order of arrival), and queues the follow-up work: cancel the invoice's other links once it is paid, capture
an approved PayPal order.
"""
from __future__ import annotations

import hashlib
import logging
from types import SimpleNamespace

from sqlalchemy.dialects import postgresql, sqlite

from .. import jobs
from ..mail import outbox
from ..extensions import db
from ..models import AuditEvent, Invoice, Payment, PaymentLink, PaymentMismatch, WebhookTransmission, utcnow
from ..models.ledger import PAYMENT_CAPTURED
from ..money import Money
from . import registry
from .base import (EVENT_APPROVED, EVENT_CANCELLED, EVENT_DISPUTE, EVENT_EXPIRED, EVENT_FAILED, EVENT_PAID,
                   EVENT_PARTIALLY_PAID, EVENT_REFUND, EVENT_REFUNDS_CHANGED, GatewayLink, GatewayPayment, PaymentEvent,
                   WebhookRejected)

log = logging.getLogger("portal.payments.ledger")

# Outcomes, as stored on the delivery and answered to the gateway (all 2xx).
APPLIED, DUPLICATE, IGNORED, UNKNOWN, MISMATCH, LINK_CLOSED, QUEUED = (
    "applied", "duplicate", "ignored", "unknown_object", "mismatch", "link_closed", "queued")


def find_link(gateway: str, link_id: str | None, reference: str | None) -> PaymentLink | None:
    if link_id:
        row = db.session.scalar(db.select(PaymentLink).where(PaymentLink.gateway == gateway,
                                                             PaymentLink.link_id == link_id))
        if row is not None:
            return row
    if reference:
        return db.session.scalar(db.select(PaymentLink).where(PaymentLink.gateway == gateway,
                                                              PaymentLink.reference == reference))
    return None


def insert_once(model, **values):
    """INSERT a row unless one with the same unique key is there (ON CONFLICT DO NOTHING, on PostgreSQL and
    SQLite alike): one statement, no savepoint. The new row's key (its id) when this call inserted it, else None. On
    PostgreSQL a concurrent transaction inserting the same key makes this one wait for its outcome, so exactly
    one of them wins."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(**values).on_conflict_do_nothing()
    return db.session.execute(statement.returning(*model.__table__.primary_key.columns)).scalar()


def claim_transmission(event: PaymentEvent, body: bytes) -> None:
    """A signed transmission id is good for one body (PayPal signs only a CRC-32 of it, which can be forced).
    The same bytes again are the gateway delivering once more and go on (to be answered as a duplicate, or
    applied if the first attempt could not be); other bytes under a used id are WebhookRejected. The row joins
    the caller's transaction; the unique constraint settles concurrent deliveries."""
    if not event.transmission_id:
        return
    digest = hashlib.sha256(body).hexdigest()
    if insert_once(WebhookTransmission, gateway=event.gateway, transmission_id=event.transmission_id,
                   body_sha256=digest, received_at=utcnow()):
        return
    seen = db.session.scalar(db.select(WebhookTransmission.body_sha256).where(
        WebhookTransmission.gateway == event.gateway, WebhookTransmission.transmission_id == event.transmission_id))
    if seen != digest:
        raise WebhookRejected(f"transmission {event.transmission_id[:60]!r} was already used for another body")


def apply_event(event: PaymentEvent, source: str = "webhook") -> tuple[str, int | None, str]:
    """Act on a verified event in the caller's transaction. Returns (outcome, invoice id, detail)."""
    from . import refunds  # refunds imports the engine's calls, which import this module's callers

    if event.kind == EVENT_REFUND and event.refund is not None:
        return refunds.apply_refund(event.refund, source)
    if event.kind == EVENT_DISPUTE and event.dispute is not None:
        return refunds.apply_dispute(event.dispute, source)
    if event.kind == EVENT_REFUNDS_CHANGED and event.refunds_of:
        if db.session.scalar(db.select(Payment.invoice_id).where(Payment.gateway == event.gateway,
                                                                 Payment.payment_id == event.refunds_of)) is None:
            return UNKNOWN, None, f"no {event.gateway} payment {event.refunds_of!r} here"
        jobs.enqueue("sync_refunds", gateway=event.gateway, payment_id=event.refunds_of)
        return QUEUED, None, f"refunds of {event.refunds_of} to be fetched"
    if event.kind == EVENT_FAILED:
        return _record_failure(event)
    link = find_link(event.gateway, event.link_id, event.reference)
    if link is None:
        log.info("%s event %s about %s: not ours", event.gateway, event.event_id, event.link_id)
        return UNKNOWN, None, f"no link {event.link_id!r} here"
    if event.invoice_id is not None and event.invoice_id != link.invoice_id:
        # The gateway's own record names another invoice than our link does: staff look before money moves.
        detail = f"{event.gateway} reports invoice #{event.invoice_id} for a link of invoice #{link.invoice_id}"
        _flag(link, db.session.get(Invoice, link.invoice_id), event.payment.payment_id if event.payment else None,
              "invoice", detail, source)
        return MISMATCH, link.invoice_id, detail
    if event.kind in (EVENT_PAID, EVENT_PARTIALLY_PAID) and event.payment is not None:
        return record_payment(link, event.payment, source, full=event.kind == EVENT_PAID)
    if event.kind == EVENT_APPROVED:
        jobs.enqueue("capture_approved", gateway=link.gateway, link_row_id=link.id)
        return QUEUED, link.invoice_id, "capture queued"
    if event.kind in (EVENT_EXPIRED, EVENT_CANCELLED):
        if link.status in ("created", "pending", "abandoned"):  # a late expiry never undoes a payment
            link.status = "expired" if event.kind == EVENT_EXPIRED else "cancelled"
            return LINK_CLOSED, link.invoice_id, f"link {event.kind}"
        return IGNORED, link.invoice_id, f"link already {link.status}"
    return IGNORED, link.invoice_id, f"{event.event_type}: nothing to do"


def _record_failure(event: PaymentEvent) -> tuple[str, int | None, str]:
    """A payment the gateway refused: nothing to apply, but staff see it in the invoice's trail. The link
    is the one the event names or, when it names none (Razorpay's payment.failed), the invoice's newest
    link at that gateway."""
    from .engine import record_customer_outcome  # the engine imports this module's callers

    link = find_link(event.gateway, event.link_id, event.reference)
    if link is None and event.invoice_id is not None:
        link = db.session.scalar(db.select(PaymentLink).where(PaymentLink.gateway == event.gateway,
                                                              PaymentLink.invoice_id == event.invoice_id)
                                 .order_by(PaymentLink.id.desc()).limit(1))
    if link is None:
        return UNKNOWN, None, f"{event.event_type}: no link of ours"
    invoice = db.session.get(Invoice, link.invoice_id)
    name = registry.gateway_class(event.gateway).display_name
    why = f": {event.failure}" if event.failure else ""
    record_customer_outcome(invoice, event.gateway, "declined",
                            f"{name} declined the payment{why}; nothing was charged", link, commit=False)
    return APPLIED, invoice.id, f"{event.event_type}: decline recorded"


def record_payment(link: PaymentLink, payment: GatewayPayment, source: str, full: bool = False
                   ) -> tuple[str, int | None, str]:
    """Record one payment against the link's invoice, once; check it first."""
    # Lock the invoice row and read it fresh, in one statement (PostgreSQL: other workers applying other
    # payments to it wait here).
    invoice = db.session.scalars(db.select(Invoice).where(Invoice.id == link.invoice_id).with_for_update(of=Invoice)
                                 .execution_options(populate_existing=True)).one()
    problem = _mismatch(link, invoice, payment.amount, full)
    if problem:
        kind, detail = problem
        _flag(link, invoice, payment.payment_id, kind, detail, source)
        return MISMATCH, invoice.id, detail
    received_at = utcnow()
    if not insert_once(Payment, invoice_id=invoice.id, payment_link_id=link.id, gateway=link.gateway,
                       payment_id=payment.payment_id, currency=payment.amount.currency,
                       amount_minor=payment.amount.minor, status=PAYMENT_CAPTURED, source=source,
                       received_at=received_at):
        return DUPLICATE, invoice.id, f"payment {payment.payment_id} already recorded"
    db.session.expire(invoice, ["payments"])  # inserted beside the ORM: a loaded list would miss it
    link.amount_paid_minor = min(link.amount_minor, link.amount_paid_minor + payment.amount.minor)
    link.status = "paid" if link.amount_paid_minor >= link.amount_minor else "partially_paid"
    if invoice.status == "void":
        _flag(link, invoice, payment.payment_id, "paid_void_invoice",
              f"{payment.amount.format()} arrived for a void invoice: refund it", source)
        return MISMATCH, invoice.id, "payment for a void invoice"
    if invoice.status == "refunded":
        # Everything was given back and the invoice is closed: money arriving now is kept aside for staff.
        _flag(link, invoice, payment.payment_id, "paid_refunded_invoice",
              f"{payment.amount.format()} arrived for an invoice already refunded in full: refund it", source)
        return MISMATCH, invoice.id, "payment for a refunded invoice"
    if invoice.status == "draft":
        invoice.open()
    invoice.record_payment(payment.amount)
    AuditEvent.record(None, "invoice.payment", "invoice", invoice.id,
                      f"{payment.amount.format()} via {link.gateway} ({payment.payment_id}, {source})")
    # The customer's receipt, in this transaction: one per payment, however often it is reported.
    outbox.queue_receipt(invoice, SimpleNamespace(amount=payment.amount, payment_id=payment.payment_id,
                                                  gateway=link.gateway, received_at=received_at),
                         f"payment_received:{link.gateway}:{payment.payment_id}")
    if invoice.status == "overpaid":
        _flag(link, invoice, payment.payment_id, "overpaid",
              f"paid {invoice.amount_paid.format()} of {invoice.total.format()}: refund the difference", source)
    if invoice.status in ("paid", "overpaid"):
        # One invoice, one payment: the links it no longer needs are cancelled in the background.
        jobs.enqueue("cancel_other_links", invoice_id=invoice.id, keep_id=link.id)
    log.info("invoice %s: %s via %s (%s) -> %s", invoice.number, payment.amount.format(), link.gateway,
             source, invoice.status)
    return APPLIED, invoice.id, f"{payment.amount.format()} recorded; invoice {invoice.status}"


def apply_link_state(link_row: PaymentLink, remote: GatewayLink, source: str) -> list[tuple[str, str]]:
    """Bring a link row in line with what the gateway reports (return pages, reconciliation)."""
    results = []
    for payment in remote.payments:
        outcome, _, detail = record_payment(link_row, payment, source,
                                            full=len(remote.payments) == 1 and remote.status == "paid")
        results.append((outcome, detail))
    if not remote.payments and remote.status in ("expired", "cancelled") and link_row.status in ("created",
                                                                                                   "abandoned"):
        link_row.status = remote.status
        results.append((LINK_CLOSED, remote.status))
    return results


def _mismatch(link: PaymentLink, invoice: Invoice, amount: Money, full: bool) -> tuple[str, str] | None:
    """Why this payment must not be applied, as (mismatch kind, words for staff); None when it may."""
    if amount.currency != invoice.currency or amount.currency != link.currency:
        return "currency", f"currency {amount.currency} does not match the invoice's {invoice.currency}"
    if amount.minor <= 0:
        return "amount", f"amount {amount.format()} is not positive"
    still_asked = link.amount_minor - link.amount_paid_minor
    if full and amount.minor != still_asked and amount.minor != link.amount_minor:
        return "amount", f"amount {amount.format()} does not match the link's {link.amount.format()}"
    if amount.minor > link.amount_minor:
        return "amount", f"amount {amount.format()} is more than the link's {link.amount.format()}"
    # Whatever the gateway calls it (Razorpay partially_paid, a short capture or session), less than the link
    # still asks for is a part payment, and this invoice takes none: staff decide (refund, or accept it).
    if amount.minor < still_asked and not invoice.accept_partial:
        return "partial_not_accepted", (f"{amount.format()} paid of {Money(still_asked, link.currency).format()}, "
                                        "but this invoice does not accept partial payments: refund it or collect the rest")
    return None


def _flag(link: PaymentLink, invoice: Invoice | None, payment_id: str | None, kind: str, detail: str,
          source: str) -> None:
    if payment_id and db.session.scalar(db.select(PaymentMismatch.id).where(
            PaymentMismatch.gateway == link.gateway, PaymentMismatch.payment_id == payment_id,
            PaymentMismatch.kind == kind, PaymentMismatch.resolved_at.is_(None)).limit(1)) is not None:
        return  # already waiting for staff: reconciliation and redeliveries report the same payment again
    db.session.add(PaymentMismatch(gateway=link.gateway, invoice_id=invoice.id if invoice else None,
                                   link_id=link.link_id, payment_id=payment_id, kind=kind, detail=detail,
                                   source=source))
    log.warning("%s mismatch on %s: %s", link.gateway, link.link_id, detail)


@jobs.handler("capture_approved")
def capture_approved(gateway: str, link_row_id: int) -> None:
    """PayPal's CHECKOUT.ORDER.APPROVED: capture now, unless the invoice no longer needs the money."""
    from flask import current_app

    from . import registry

    link = db.session.get(PaymentLink, link_row_id)
    invoice = db.session.get(Invoice, link.invoice_id)
    if invoice.status in ("paid", "overpaid", "void") or link.status in ("paid", "cancelled", "expired"):
        log.info("not capturing %s: invoice %s is %s", link.link_id, invoice.number, invoice.status)
        return
    adapter = registry.get_gateway(gateway, current_app.config)
    remote = adapter.capture_order(link.link_id, link.reference, adapter.settings.timeout)
    apply_link_state(link, remote, "capture")
    db.session.commit()
