"""Money back (issue 12): refunds asked for here, refunds and disputes the gateways tell us about, exactly once.

A refund asked for here is a row first (`requested`, with our reference as its idempotency key), written under
the invoice's lock after checking what is left of the payment; only then is the gateway called, with retries
for what is safe to retry and a lookup by reference before anything is sent again after an ambiguous failure.
Whatever the gateway answers, or later reports by webhook or to reconciliation, goes through `apply_refund`,
which finds the row by the gateway's refund id or our reference and moves it forward only. Payment and
invoice sums are recomputed from the rows every time (`settle`), so a report applied twice changes nothing.

One lock serialises all money on an invoice: payments (ledger.record_payment), refunds and disputes.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections import namedtuple
from datetime import timedelta

from flask import current_app
from sqlalchemy import update
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from .. import jobs
from ..mail import outbox
from ..extensions import db
from ..models import AuditEvent, Dispute, Invoice, Payment, PaymentMismatch, Refund, User, utcnow
from ..models import ledger as rows
from ..money import Money
from . import registry
from .base import (CONFLICT, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED, TIMEOUT, GatewayDispute, GatewayError,
                   GatewayRefund, RefundRequest)
from .calls import backoff, call, plain_error
from .wiring import seconds

log = logging.getLogger("portal.payments.refunds")

# What ledger.apply_event answers for these events (stored on the webhook delivery).
APPLIED, DUPLICATE, UNKNOWN, MISMATCH = "applied", "duplicate", "unknown_object", "mismatch"
# A refund row moves forward only: requested -> pending -> succeeded | failed. A succeeded refund can still fail
# (Stripe: "a refund can fail after it succeeded" when the card is closed), which gives the money back to us.
_RANK = {rows.REFUND_REQUESTED: 0, rows.REFUND_PENDING: 1, rows.REFUND_SUCCEEDED: 2, rows.REFUND_FAILED: 3}
_DISPUTE_FINAL = (rows.DISPUTE_WON, rows.DISPUTE_LOST)
# GatewayAttempt rows carry the invoice and our reference; calls.call reads both off this.
_Subject = namedtuple("_Subject", "invoice_id reference")


class RefundRefused(Exception):
    """A refund that must not be asked for; `code` is the API's error code, the message is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# ---- what is left, and the one-click offers ------------------------------------------------------------

def refundable(payment: Payment) -> Money:
    """What may still be refunded: the payment, less refunds not failed (asked for, pending or done) and lost
    disputes."""
    promised = sum(r.amount_minor for r in payment.refunds if r.status != rows.REFUND_FAILED)
    lost = sum(d.amount_minor for d in payment.disputes if d.status == rows.DISPUTE_LOST)
    return Money(max(payment.amount_minor - promised - lost, 0), payment.currency)


def why_not_refundable(payment: Payment) -> str | None:
    """Why no refund of this payment can be asked for now, in words for staff; None when one can."""
    if any(d.is_active for d in payment.disputes):
        return "This payment is disputed. Answer the dispute instead; a refund now could give the money back twice."
    if refundable(payment).minor <= 0:
        return "Nothing is left to refund on this payment."
    if registry.get_gateway(payment.gateway, current_app.config) is None:
        return f"{payment.gateway.title()} is not configured here, so the refund must be made at its dashboard."
    return None


def open_refunds_minor(invoice: Invoice) -> int:
    return sum(r.amount_minor for p in invoice.payments for r in p.refunds if r.is_open)


def extra_offer(invoice: Invoice) -> tuple[Payment, Money] | None:
    """An overpaid invoice's "Refund the extra": the exact surplus not yet given back (nor being given back),
    from the latest payment that has that much left. None when there is nothing to offer."""
    if invoice.status != "overpaid":
        return None
    surplus = invoice.amount_paid_minor - invoice.amount_refunded_minor - open_refunds_minor(invoice) - invoice.total_minor
    if surplus <= 0:
        return None
    for payment in reversed(invoice.payments):
        if why_not_refundable(payment) is None and refundable(payment).minor >= surplus:
            return payment, Money(surplus, invoice.currency)
    return None


def void_offers(invoice: Invoice) -> list[tuple[Payment, Money]]:
    """A void invoice's payments: "Refund in full" (what is left of each)."""
    if invoice.status != "void":
        return []
    return [(p, refundable(p)) for p in invoice.payments if why_not_refundable(p) is None]


# ---- asking for a refund ---------------------------------------------------------------------------------

def new_request_key() -> str:
    """A key for one refund form as rendered: every click of that form is the same request."""
    return secrets.token_urlsafe(16)


def request_refund(payment_row_id: int, amount: Money, reason: str, actor: User | None, *, via: str = "portal",
                   request_key: str | None = None) -> tuple[Refund, bool]:
    """Ask the payment's gateway to give `amount` back. Returns (the refund row, whether this call made it);
    a request_key seen before answers the refund it made, with no second gateway call.

    Raises RefundRefused, with nothing written and no gateway call, when the amount is not positive, is in
    another currency, or is more than is left of the payment, or when the payment cannot be refunded now."""
    row, made = _reserve(payment_row_id, amount, reason, actor, via, request_key)
    if not made:
        return row, False
    adapter = registry.get_gateway(row.gateway, current_app.config)
    payment = row.payment
    request = RefundRequest(payment_id=payment.payment_id, amount=row.amount, reference=row.reference,
                            invoice_number=payment.invoice.number, reason=reason)
    subject = _Subject(row.invoice_id, row.reference)
    try:
        answer = _send(adapter, request, subject)
    except GatewayError as exc:
        _after_failure(row, exc)
    else:
        apply_refund(answer, source=via, row_id=row.id)
        db.session.commit()
    db.session.refresh(row)
    return row, True


def _reserve(payment_row_id: int, amount: Money, reason: str, actor: User | None, via: str,
             request_key: str | None) -> tuple[Refund, bool]:
    """The first transaction: under the invoice's lock, check what is left and write the `requested` row."""
    payment = db.session.get(Payment, payment_row_id)
    if payment is None:
        raise RefundRefused("not_found", "No such payment.")
    invoice = _hold_invoice(payment.invoice_id)
    if request_key:
        seen = db.session.scalar(db.select(Refund).where(Refund.request_key == request_key))
        if seen is not None:
            db.session.commit()
            if seen.payment_row_id != payment.id or seen.amount_minor != amount.minor:
                raise RefundRefused("idempotency_key_reused", "This request's key was already used for a "
                                    f"refund of {seen.amount.format()} of another payment or amount; nothing was refunded.")
            return seen, False
    db.session.refresh(payment)
    problem = _refusal(payment, amount)
    if problem is not None:
        db.session.rollback()
        raise problem
    row = Refund(payment_row_id=payment.id, invoice_id=invoice.id, gateway=payment.gateway,
                 reference=f"hp_rf_{secrets.token_hex(12)}", request_key=request_key, currency=amount.currency,
                 amount_minor=amount.minor, status=rows.REFUND_REQUESTED, reason=reason[:500], source=via,
                 requested_by_id=actor.id if actor is not None else None)
    db.session.add(row)
    AuditEvent.record(actor, "invoice.refund_requested", "invoice", invoice.id,
                      f"{amount.format()} of {payment.gateway} payment {payment.payment_id}"
                      + (f": {reason[:200]}" if reason else ""), via=via if via != "portal" else None)
    db.session.commit()
    return row, True


def _refusal(payment: Payment, amount: Money) -> RefundRefused | None:
    if amount.currency != payment.currency:
        return RefundRefused("currency_mismatch", f"This payment is in {payment.currency}; a refund of it must be too.")
    if amount.minor <= 0:
        return RefundRefused("invalid_amount", "A refund must be a positive amount.")
    if any(d.is_active for d in payment.disputes):
        return RefundRefused("payment_disputed", "This payment is disputed. Answer the dispute at "
                             f"{payment.gateway.title()} instead; a refund now could give the money back twice.")
    left = refundable(payment)
    if amount.minor > left.minor:
        return RefundRefused("refund_exceeds_payment",
                             f"Only {left.format()} of this payment can be refunded; {amount.format()} is more than that.")
    adapter = registry.get_gateway(payment.gateway, current_app.config)
    if adapter is None:
        return RefundRefused("gateway_not_configured", f"{payment.gateway.title()} is not configured here, "
                             "so the refund must be made at its dashboard.")
    why = adapter.cannot_take(amount)
    if why and amount.currency in adapter.currencies and "at least" not in why:
        return RefundRefused("invalid_amount", why)  # precision: e.g. whole units only (a refund has no minimum)
    return None


def _send(adapter, request: RefundRequest, subject) -> GatewayRefund:
    """Create the refund, retrying what is safe: after an answer that may have been lost (timeout, 409), look
    the refund up by our reference before anything is sent again (Razorpay has no idempotency key)."""
    ambiguous = False
    budget_end = time.monotonic() + seconds("PAYMENT_CLICK_DEADLINE_SECONDS")
    retrying = Retrying(
        stop=stop_after_attempt(current_app.config["PAYMENT_RETRY_ATTEMPTS"])
        | stop_before_delay(max(0.0, budget_end - time.monotonic())),
        wait=backoff(seconds("PAYMENT_RETRY_BASE_DELAY")),
        retry=retry_if_exception(lambda exc: isinstance(exc, GatewayError) and exc.transient),
        reraise=True,
    )
    attempts: list = []
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            timeout = adapter.settings.timeout
            if ambiguous:
                found = call(adapter, "find_refund", number, subject, None, attempts,
                             lambda: adapter.find_refund(request, timeout))
                if found is not None:
                    return found
            try:
                return call(adapter, "refund", number, subject, None, attempts,
                            lambda: adapter.create_refund(request, timeout))
            except GatewayError as exc:
                if ambiguous and exc.code == "refund_exceeds_payment":
                    # The lost first call may be what used the amount up: ask once more before giving up.
                    found = adapter.find_refund(request, timeout)
                    if found is not None:
                        return found
                if exc.kind in (TIMEOUT, CONFLICT):
                    ambiguous = True
                    exc.ambiguous = True
                elif ambiguous:
                    exc.ambiguous = True
                raise
    raise AssertionError("unreachable: tenacity either returned or raised")


def _after_failure(row: Refund, exc: GatewayError) -> None:
    """The gateway did not confirm. Surely not made: the row fails and the amount is free again. Maybe made
    (an answer lost): the row stays `requested` and a job looks it up by reference until it knows."""
    db.session.rollback()
    row = db.session.get(Refund, row.id, populate_existing=True)
    name = registry.gateway_class(row.gateway).display_name
    if getattr(exc, "ambiguous", False) or not exc.surely_not_applied:
        row.failure = f"{name} {plain_error(exc)}; we are checking whether the refund was made"
        jobs.enqueue("confirm_refund", refund_row_id=row.id)
        log.warning("refund %s at %s: outcome unknown (%s %s), confirming later", row.reference, row.gateway,
                    exc.kind, exc.code)
        db.session.commit()
        return
    invoice = _hold_invoice(row.invoice_id)
    row.status, row.settled_at = rows.REFUND_FAILED, utcnow()
    row.failure_code = f"{exc.kind}:{exc.code}"[:64]
    row.request_key = None  # nothing was refunded: the same click or Idempotency-Key may try again
    row.failure = exc.message if exc.code == "refund_exceeds_payment" else f"{name} {plain_error(exc)}: {exc.message}"
    row.failure = row.failure[:1000]
    AuditEvent.record(None, "invoice.refund_failed", "invoice", invoice.id,
                      f"{row.amount.format()} at {row.gateway}: {row.failure[:300]}")
    if exc.code == "refund_exceeds_payment":
        # The gateway knows of refunds we do not (made at its dashboard, webhook not here yet): learn them.
        jobs.enqueue("sync_refunds", gateway=row.gateway, payment_id=row.payment.payment_id)
    db.session.commit()


@jobs.handler("confirm_refund")
def confirm_refund(refund_row_id: int) -> None:
    """A refund whose answer was lost: find it by our reference (replaying the create where the gateway has
    idempotency keys, which makes it at most once). Raises while the gateway cannot say, so the job retries."""
    row = db.session.get(Refund, refund_row_id)
    if row is None or row.status != rows.REFUND_REQUESTED:
        return
    adapter = registry.get_gateway(row.gateway, current_app.config)
    if adapter is None:
        raise RuntimeError(f"{row.gateway} is not configured: cannot confirm refund {row.reference}")
    request = RefundRequest(payment_id=row.payment.payment_id, amount=row.amount, reference=row.reference,
                            invoice_number=row.payment.invoice.number, reason=row.reason)
    found = call(adapter, "find_refund", 1, _Subject(row.invoice_id, row.reference), None, [],
                 lambda: adapter.find_refund(request, adapter.settings.timeout))
    if found is None:
        invoice = _hold_invoice(row.invoice_id)
        row = db.session.get(Refund, refund_row_id, populate_existing=True)
        if row.status == rows.REFUND_REQUESTED:
            row.status, row.settled_at = rows.REFUND_FAILED, utcnow()
            row.failure = f"{registry.gateway_class(row.gateway).display_name} has no such refund: it was never made"
            AuditEvent.record(None, "invoice.refund_failed", "invoice", invoice.id,
                              f"{row.amount.format()} at {row.gateway}: never made")
        db.session.commit()
        return
    apply_refund(found, source="reconcile", row_id=row.id)
    db.session.commit()


@jobs.handler("sync_refunds")
def sync_refunds(gateway: str, payment_id: str) -> None:
    """Learn every refund of a payment from the gateway (Stripe's charge.refunded names none)."""
    adapter = registry.get_gateway(gateway, current_app.config)
    if adapter is None:
        return
    found = adapter.list_refunds(payment_id, adapter.settings.timeout)
    for refund in found or ():
        apply_refund(refund, source="reconcile")
    db.session.commit()


# ---- what the gateways report ----------------------------------------------------------------------------

def apply_refund(refund: GatewayRefund, source: str, row_id: int | None = None) -> tuple[str, int | None, str]:
    """Record a refund as the gateway reports it, in the caller's transaction; once, forward only.
    Returns (outcome, invoice id, detail) as ledger.apply_event does."""
    payment = _payment(refund.gateway, refund.payment_id)
    if payment is None:
        return UNKNOWN, None, f"no {refund.gateway} payment {refund.payment_id!r} here"
    invoice = _hold_invoice(payment.invoice_id)
    if refund.amount.currency != payment.currency:
        detail = f"refund {refund.refund_id} is in {refund.amount.currency}, the payment in {payment.currency}"
        _flag(payment, refund.refund_id, "refund_currency", detail, source)
        return MISMATCH, invoice.id, detail
    row = _refund_row(refund, payment, row_id)
    if row is None:  # made elsewhere (the gateway's dashboard): ours from now on
        row = Refund(payment_row_id=payment.id, invoice_id=invoice.id, gateway=refund.gateway,
                     refund_id=refund.refund_id, currency=refund.amount.currency, amount_minor=refund.amount.minor,
                     status=rows.REFUND_REQUESTED, source=source,
                     reason="" if refund.status == REFUND_FAILED else refund.reason[:500])
        db.session.add(row)
        made_here = False
    else:
        made_here = row.source in ("portal", "api")
    new_status = {REFUND_PENDING: rows.REFUND_PENDING, REFUND_SUCCEEDED: rows.REFUND_SUCCEEDED,
                  REFUND_FAILED: rows.REFUND_FAILED}[refund.status]
    if row.refund_id == refund.refund_id and _RANK[new_status] <= _RANK[row.status] and row.id is not None:
        return DUPLICATE, invoice.id, f"refund {refund.refund_id} already {row.status}"
    was = row.status
    row.refund_id = refund.refund_id
    row.amount_minor = refund.amount.minor  # the gateway's figure is what moved
    if _RANK[new_status] > _RANK[was]:
        row.status = new_status
        if new_status in (rows.REFUND_SUCCEEDED, rows.REFUND_FAILED):
            row.settled_at = utcnow()
        if new_status == rows.REFUND_SUCCEEDED and row.succeeded_at is None:
            row.succeeded_at = row.settled_at
        if new_status == rows.REFUND_FAILED:
            row.failure = (refund.reason or "the gateway reports it failed")[:1000]
    db.session.flush()
    settle(invoice)
    where = "" if made_here else f", made at {registry.gateway_class(refund.gateway).display_name}"
    name = registry.gateway_class(refund.gateway).display_name
    AuditEvent.record(None, f"invoice.refund_{row.status}", "invoice", invoice.id,
                      f"{row.amount.format()} via {name} ({refund.refund_id}){where}")
    if row.status == rows.REFUND_SUCCEEDED and was != rows.REFUND_SUCCEEDED:
        outbox.queue_refund(invoice, row, f"refund_made:{row.gateway}:{row.refund_id}")
    if was == rows.REFUND_SUCCEEDED and row.status == rows.REFUND_FAILED:
        _flag(payment, refund.refund_id, "refund_reversed",
              f"refund {refund.refund_id} of {row.amount.format()} failed after it succeeded: the money is back "
              "with you; pay the customer another way", source)
    log.info("invoice %s: refund %s %s (%s) -> invoice %s", invoice.number, refund.refund_id, row.status, source,
             invoice.status)
    return APPLIED, invoice.id, f"refund {refund.refund_id} {row.status}; invoice {invoice.status}"


def _refund_row(refund: GatewayRefund, payment: Payment, row_id: int | None) -> Refund | None:
    """Our row for this refund: by the gateway's id, else by our reference (the webhook can beat our own call's
    answer), else the row we are answering for. A row the webhook made first for a refund we asked for is
    folded into ours."""
    by_id = db.session.scalar(db.select(Refund).where(Refund.gateway == refund.gateway,
                                                      Refund.refund_id == refund.refund_id))
    ours = db.session.get(Refund, row_id) if row_id is not None else None
    if ours is None and refund.reference:
        ours = db.session.scalar(db.select(Refund).where(Refund.reference == refund.reference))
    if ours is not None and ours.payment_row_id != payment.id:
        ours = None  # a reference that names another payment's refund is not this one
    if by_id is not None and ours is not None and by_id.id != ours.id:
        ours.status = max(ours.status, by_id.status, key=_RANK.get)
        ours.settled_at = ours.settled_at or by_id.settled_at
        ours.succeeded_at = ours.succeeded_at or by_id.succeeded_at
        db.session.delete(by_id)
        db.session.flush()
        return ours
    return by_id or ours


def apply_dispute(dispute: GatewayDispute, source: str) -> tuple[str, int | None, str]:
    """Record a dispute as the gateway reports it, in the caller's transaction: opened, updated, won or lost.
    A decided dispute stays decided whatever arrives after it."""
    payment = _payment(dispute.gateway, dispute.payment_id)
    if payment is None:
        return UNKNOWN, None, f"no {dispute.gateway} payment {dispute.payment_id!r} here"
    invoice = _hold_invoice(payment.invoice_id)
    row = db.session.scalar(db.select(Dispute).where(Dispute.gateway == dispute.gateway,
                                                     Dispute.dispute_id == dispute.dispute_id))
    if row is None:
        row = Dispute(payment_row_id=payment.id, invoice_id=invoice.id, gateway=dispute.gateway,
                      dispute_id=dispute.dispute_id, currency=dispute.amount.currency,
                      amount_minor=dispute.amount.minor, status=dispute.status, reason=dispute.reason[:500],
                      respond_by=dispute.respond_by, opened_at=utcnow())
        db.session.add(row)
        was = None
    else:
        was = row.status
        if was in _DISPUTE_FINAL or (was == dispute.status and row.respond_by == dispute.respond_by
                                     and row.amount_minor == dispute.amount.minor):
            return DUPLICATE, invoice.id, f"dispute {dispute.dispute_id} already {was}"
        row.status = dispute.status
        row.amount_minor = dispute.amount.minor
        row.reason = dispute.reason[:500] or row.reason
        row.respond_by = dispute.respond_by or row.respond_by
    if row.status in _DISPUTE_FINAL:
        row.closed_at = utcnow()
    db.session.flush()
    settle(invoice)
    name = registry.gateway_class(dispute.gateway).display_name
    AuditEvent.record(None, f"invoice.dispute_{row.status}", "invoice", invoice.id,
                      f"{row.amount.format()} at {name} ({dispute.dispute_id})" + (f": {row.reason}" if row.reason else ""))
    return APPLIED, invoice.id, f"dispute {dispute.dispute_id} {row.status}; invoice {invoice.status}"


# ---- sums and statuses -----------------------------------------------------------------------------------

def settle(invoice: Invoice) -> None:
    """Recompute each payment's refunded sum and status and the invoice's sums and status from the rows."""
    refunded_total = lost_total = 0
    payments = db.session.scalars(db.select(Payment).where(Payment.invoice_id == invoice.id)
                                  .execution_options(populate_existing=True)).all()
    for payment in payments:
        db.session.refresh(payment, ["refunds", "disputes"])
        refunded = sum(r.amount_minor for r in payment.refunds if r.status == rows.REFUND_SUCCEEDED)
        lost = sum(d.amount_minor for d in payment.disputes if d.status == rows.DISPUTE_LOST)
        payment.amount_refunded_minor = refunded
        if any(d.is_active for d in payment.disputes):
            payment.status = rows.PAYMENT_DISPUTED
        elif lost:
            payment.status = rows.PAYMENT_CHARGED_BACK
        elif refunded >= payment.amount_minor:
            payment.status = rows.PAYMENT_REFUNDED
        elif refunded:
            payment.status = rows.PAYMENT_PARTIALLY_REFUNDED
        else:
            payment.status = rows.PAYMENT_CAPTURED
        refunded_total, lost_total = refunded_total + refunded, lost_total + lost
    invoice.settle_money_back(refunded_total, lost_total)
    _resolve_settled_mismatches(invoice, payments)


def _resolve_settled_mismatches(invoice: Invoice, payments) -> None:
    """"Refund the difference" and "refund it" items are done once the money is back."""
    kinds = []
    if invoice.status != "overpaid":
        kinds.append("overpaid")
    if invoice.status == "void" and all(p.amount_refunded_minor >= p.amount_minor for p in payments):
        kinds.append("paid_void_invoice")
    if kinds:
        db.session.execute(update(PaymentMismatch).where(
            PaymentMismatch.invoice_id == invoice.id, PaymentMismatch.kind.in_(kinds),
            PaymentMismatch.resolved_at.is_(None)).values(resolved_at=utcnow()))


def _hold_invoice(invoice_id: int) -> Invoice:
    """Take the invoice's money lock (a write to its row: PostgreSQL locks the row, SQLite the database) and
    read it fresh. Held until the caller's transaction ends."""
    db.session.execute(update(Invoice).where(Invoice.id == invoice_id)
                       .values(amount_refunded_minor=Invoice.amount_refunded_minor)
                       .execution_options(synchronize_session=False))
    return db.session.scalars(db.select(Invoice).where(Invoice.id == invoice_id)
                              .execution_options(populate_existing=True)).one()


def _payment(gateway: str, payment_id: str) -> Payment | None:
    return db.session.scalar(db.select(Payment).where(Payment.gateway == gateway, Payment.payment_id == payment_id))


def _flag(payment: Payment, refund_or_dispute_id: str, kind: str, detail: str, source: str) -> None:
    if db.session.scalar(db.select(PaymentMismatch.id).where(
            PaymentMismatch.gateway == payment.gateway, PaymentMismatch.payment_id == payment.payment_id,
            PaymentMismatch.kind == kind, PaymentMismatch.resolved_at.is_(None)).limit(1)) is not None:
        return
    db.session.add(PaymentMismatch(gateway=payment.gateway, invoice_id=payment.invoice_id, link_id=None,
                                   payment_id=payment.payment_id, kind=kind, detail=detail, source=source))


# ---- reconciliation ----------------------------------------------------------------------------------------

def reconcile_refunds(min_age_seconds: float | None = None) -> list[str]:
    """Ask the gateways about every refund still open here: pending ones by id, requested ones (their answer
    lost) by our reference. Requested rows younger than a click's deadline may still be in flight and wait."""
    if min_age_seconds is None:
        min_age_seconds = seconds("PAYMENT_CLICK_DEADLINE_SECONDS") + 5
    cutoff = utcnow() - timedelta(seconds=min_age_seconds)
    found: list[str] = []
    ids = db.session.scalars(db.select(Refund.id).where(Refund.status.in_(rows.REFUND_OPEN_STATUSES))
                             .order_by(Refund.id)).all()
    for refund_row_id in ids:
        row = db.session.get(Refund, refund_row_id)
        adapter = registry.get_gateway(row.gateway, current_app.config)
        if adapter is None:
            continue
        label = f"{row.payment.invoice.number} {row.gateway} refund {row.refund_id or row.reference}"
        try:
            if row.refund_id:
                remote = adapter.fetch_refund(row.refund_id, row.payment.payment_id, adapter.settings.timeout)
                outcome, _, detail = apply_refund(remote, source="reconcile", row_id=row.id)
                db.session.commit()
                if outcome == APPLIED:
                    found.append(f"{label}: {detail}")
            elif row.updated_at <= cutoff:
                confirm_refund(row.id)
                db.session.refresh(row)
                found.append(f"{label}: {row.status}")
        except GatewayError as exc:
            db.session.rollback()
            found.append(f"{label}: could not ask ({exc.kind} {exc.code})")
    return found
